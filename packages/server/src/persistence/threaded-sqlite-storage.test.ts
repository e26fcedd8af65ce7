import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { DATABASE_FILE, SqliteStorage } from "./sqlite-storage.js";
import { StorageError, emptyBatch, type Batch } from "./storage.js";
import { ThreadedSqliteStorage } from "./threaded-sqlite-storage.js";

const dirs: string[] = [];
const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-threaded-"));
  dirs.push(dir);
  return dir;
}
function open<T extends { close(): unknown }>(storage: T): T {
  opened.push(storage);
  return storage;
}

/** Every kind of row, each with what the database must keep of it (nulls, a msgpack value, a delay). */
function everyRowBatch(): Batch {
  return {
    ...emptyBatch(),
    revision: 7,
    nextLeaseId: 3,
    sessions: new Map([["s1", { id: "s1", secret: "x", createdAt: 1_000, agent: undefined, lastRequest: 4, principal: "token:worker", account: "token:worker" }]]),
    leases: new Map([
      [1, { id: 1, session: "s1", ttl: 5_000, keepAlive: true }],
      [2, { id: 2, session: "s1", ttl: 9_000, keepAlive: false }],
    ]),
    holds: new Map([
      ["lock:5", { table: "lock", name: "gpu", limit: 4, token: 5, lease: 1, mode: "exclusive", request: 2, value: { owner: "a" }, lockDelay: 1_500, delayUntil: undefined }],
      ["lock:4", { table: "lock", name: "db", limit: undefined, token: 4, lease: 9, mode: "shared", request: 1, value: undefined, lockDelay: 2_000, delayUntil: 1_700_000_002_000 }],
    ]),
    waits: new Map([
      ["s1:3", { table: "election", name: "leader", limit: undefined, session: "s1", request: 3, lease: 2, mode: "exclusive", value: { tab: 1 }, seq: 9, expiresAt: 123, lockDelay: 250 }],
    ]),
    keys: new Map([["k", { key: "k", value: { a: [1, "b", null, new Uint8Array([1, 2])] }, revision: 6, lease: 1, owner: "token:worker" }]]),
    counters: new Map([["visits", { name: "visits", value: 42, owner: "token:worker" }]]),
  };
}

function laterBatch(): Batch {
  return {
    ...emptyBatch(),
    revision: 8,
    nextLeaseId: 3,
    sessions: new Map([["s1", { id: "s1", secret: "x", createdAt: 1_000, agent: undefined, lastRequest: 6, principal: "token:worker", account: "token:worker" }]]),
    leases: new Map([[2, null]]),
    holds: new Map([["lock:4", null]]),
    waits: new Map([["s1:3", null]]),
    keys: new Map([["k2", { key: "k2", value: "v", revision: 8, lease: undefined, owner: undefined }]]),
    counters: new Map([["visits", null]]),
  };
}

describe("ThreadedSqliteStorage", () => {
  it("stores what SqliteStorage stores for the same batches, and loads it after a restart", async () => {
    const threadedDir = tempDir();
    const threaded = new ThreadedSqliteStorage(threadedDir);
    await threaded.load();
    await threaded.write(everyRowBatch());
    await threaded.write(laterBatch());
    await threaded.close();

    const referenceDir = tempDir();
    const reference = new SqliteStorage(referenceDir);
    reference.write(everyRowBatch());
    reference.write(laterBatch());
    reference.close();

    const expected = open(new SqliteStorage(referenceDir)).load();
    expect(expected.keys).toHaveLength(2);
    expect(await open(new ThreadedSqliteStorage(threadedDir)).load()).toEqual(expected);
  });

  it("writes on its own thread: the event loop goes on while a commit waits for the database, and the commit ends once it may", async () => {
    const dir = tempDir();
    const storage = open(new ThreadedSqliteStorage(dir));
    await storage.load();
    // Another process's write lock (an operator's sqlite3 shell, say): SqliteStorage, on the event loop, failed at once here.
    const other = new Database(join(dir, DATABASE_FILE));
    other.exec("BEGIN IMMEDIATE");
    let written = false;
    const writing = storage.write(everyRowBatch()).then(() => (written = true));
    // Turns of the event loop while the commit waits: none would run if the write held this thread.
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(written).toBe(false);
    other.exec("COMMIT");
    other.close();
    await writing;
    await storage.close();
    expect(open(new SqliteStorage(dir)).load().revision).toBe(7);
  });

  it("writes the batches in flight before it closes", async () => {
    const dir = tempDir();
    const storage = new ThreadedSqliteStorage(dir);
    await storage.load();
    const first = storage.write(everyRowBatch());
    const second = storage.write(laterBatch());
    await storage.close();
    await Promise.all([first, second]);
    expect(open(new SqliteStorage(dir)).load().revision).toBe(8);
  });

  it("refuses a batch that does not fit whole, saying the database is full; the batches before it stay", async () => {
    const dir = tempDir();
    const storage = open(new ThreadedSqliteStorage(dir, { maxBytes: 64 * 1024 }));
    await storage.load();
    await storage.write(everyRowBatch());
    const big = { ...emptyBatch(), revision: 9, nextLeaseId: 3, keys: new Map([["big", { key: "big", value: "x".repeat(200_000), revision: 9, lease: undefined, owner: undefined }]]) };
    const refused = storage.write(big);
    await expect(refused).rejects.toBeInstanceOf(StorageError);
    await expect(refused).rejects.toThrow(/is full/);
    await storage.close();
    const state = open(new SqliteStorage(dir)).load();
    expect(state.revision).toBe(7);
    expect(state.keys.map((row) => row.key)).toEqual(["k"]);
  });

  it("fails every write once it is closed, saying why", async () => {
    const storage = new ThreadedSqliteStorage(tempDir());
    await storage.load();
    await storage.close();
    await expect(storage.write(laterBatch())).rejects.toThrow(/writer thread .* stopped/);
  });
});
