import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteStorage } from "./sqlite-storage.js";
import { StorageError, emptyBatch, type Batch } from "./storage.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-sqlite-"));
  dirs.push(dir);
  return dir;
}

function batch(overrides: Partial<Batch> = {}): Batch {
  return { ...emptyBatch(), nextLeaseId: 1, ...overrides };
}

describe("SqliteStorage", () => {
  it("loads exactly what was written, and later batches overwrite and delete rows", () => {
    const dir = tempDir();
    const storage = new SqliteStorage(dir);
    storage.write(
      batch({
        revision: 7,
        nextLeaseId: 3,
        sessions: new Map([["s1", { id: "s1", secret: "x", createdAt: 1_000, agent: "test", lastRequest: 4, principal: "token:worker", account: "token:worker" }]]),
        leases: new Map([
          [1, { id: 1, session: "s1", ttl: 5_000, keepAlive: true }],
          [2, { id: 2, session: "s1", ttl: 9_000, keepAlive: false }],
        ]),
        holds: new Map([["lock:5", { table: "lock", name: "gpu", limit: 4, token: 5, lease: 1, mode: "exclusive", request: 2, value: undefined }]]),
        waits: new Map([
          ["s1:3", { table: "election", name: "leader", limit: undefined, session: "s1", request: 3, lease: 2, mode: "exclusive", value: { tab: 1 }, seq: 9, expiresAt: 123 }],
        ]),
        keys: new Map([["k", { key: "k", value: { a: [1, "b", null, new Uint8Array([1, 2])] }, revision: 6, lease: 1, owner: "token:worker" }]]),
        counters: new Map([
          ["visits", { name: "visits", value: 42, owner: "token:worker" }],
          ["hits", { name: "hits", value: 7, owner: "address:127.0.0.1" }],
        ]),
      }),
    );
    storage.write(batch({ revision: 8, nextLeaseId: 3, leases: new Map([[2, null]]), counters: new Map([["visits", null]]) }));
    storage.close();

    const state = new SqliteStorage(dir).load();
    expect(state.revision).toBe(8);
    expect(state.nextLeaseId).toBe(3);
    expect(state.sessions).toEqual([{ id: "s1", secret: "x", createdAt: 1_000, agent: "test", lastRequest: 4, principal: "token:worker", account: "token:worker" }]);
    expect(state.leases).toEqual([{ id: 1, session: "s1", ttl: 5_000, keepAlive: true }]);
    expect(state.holds).toEqual([{ table: "lock", name: "gpu", limit: 4, token: 5, lease: 1, mode: "exclusive", request: 2, value: undefined }]);
    expect(state.waits[0]).toMatchObject({ table: "election", name: "leader", request: 3, value: { tab: 1 }, seq: 9, expiresAt: 123 });
    // Bytes come back as a Buffer, which is a Uint8Array.
    expect(state.keys[0]?.value).toEqual({ a: [1, "b", null, Buffer.from([1, 2])] });
    expect(state.keys[0]?.owner).toBe("token:worker");
    expect(state.counters).toEqual([{ name: "hits", value: 7, owner: "address:127.0.0.1" }]);
  });

  it("applies a batch whole or not at all", () => {
    const dir = tempDir();
    const storage = new SqliteStorage(dir, { maxBytes: 128 * 1024 });
    storage.write(batch({ revision: 1, keys: new Map([["small", { key: "small", value: "v", revision: 1, lease: undefined, owner: undefined }]]) }));
    const huge = "x".repeat(400 * 1024);
    expect(() =>
      storage.write(batch({ revision: 2, keys: new Map([["a", { key: "a", value: "v", revision: 2, lease: undefined, owner: undefined }], ["huge", { key: "huge", value: huge, revision: 2, lease: undefined, owner: undefined }]]) })),
    ).toThrow(StorageError);
    const state = storage.load();
    expect(state.revision).toBe(1);
    expect(state.keys.map((row) => row.key)).toEqual(["small"]);
  });

  it("refuses a second opener while the first holds the directory", () => {
    const dir = tempDir();
    const first = new SqliteStorage(dir);
    expect(() => new SqliteStorage(dir)).toThrow(/locked by another process/);
    first.close();
    expect(() => new SqliteStorage(dir).close()).not.toThrow();
  });
});
