import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock, encode, type Value } from "@leasehold/protocol";
import { LEGACY_ACCOUNT } from "../core/accounts.js";
import { Coordinator } from "../core/coordinator.js";
import { resolveOptions } from "../options.js";
import { restore } from "./restore.js";
import { DATABASE_FILE, SCHEMA_VERSION, SqliteStorage } from "./sqlite-storage.js";
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
        holds: new Map([
          ["lock:5", { table: "lock", name: "gpu", limit: 4, token: 5, lease: 1, mode: "exclusive", request: 2, value: undefined, lockDelay: 1_500, delayUntil: undefined }],
          // A hold lost with a lock-delay: its row stands for the delay until its wall-clock end.
          ["lock:4", { table: "lock", name: "db", limit: undefined, token: 4, lease: 9, mode: "shared", request: 1, value: undefined, lockDelay: 2_000, delayUntil: 1_700_000_002_000 }],
        ]),
        waits: new Map([
          ["s1:3", { table: "election", name: "leader", limit: undefined, session: "s1", request: 3, lease: 2, mode: "exclusive", value: { tab: 1 }, seq: 9, expiresAt: 123, lockDelay: 250 }],
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
    expect(state.holds).toEqual([
      { table: "lock", name: "db", limit: undefined, token: 4, lease: 9, mode: "shared", request: 1, value: undefined, lockDelay: 2_000, delayUntil: 1_700_000_002_000 },
      { table: "lock", name: "gpu", limit: 4, token: 5, lease: 1, mode: "exclusive", request: 2, value: undefined, lockDelay: 1_500, delayUntil: undefined },
    ]);
    expect(state.waits[0]).toMatchObject({ table: "election", name: "leader", request: 3, value: { tab: 1 }, seq: 9, expiresAt: 123, lockDelay: 250 });
    // Bytes come back as a Buffer, which is a Uint8Array.
    expect(state.keys[0]?.value).toEqual({ a: [1, "b", null, Buffer.from([1, 2])] });
    expect(state.keys[0]?.owner).toBe("token:worker");
    expect(state.counters).toEqual([{ name: "hits", value: 7, owner: "address:127.0.0.1" }]);
  });

  it("keeps each row's own value when one batch writes many (values are bound from the encoder's reused bytes)", () => {
    const dir = tempDir();
    const storage = new SqliteStorage(dir);
    // Plain values (the hand-written encoder's scratch) and one past it (msgpackr's own buffer), each a different length.
    const values: Value[] = ["a", { n: 1 }, [1, 2, 3], "x".repeat(5_000), { deep: { deeper: { deepest: { bottom: [1] } } } }, "b".repeat(40)];
    storage.write(
      batch({
        revision: 10,
        keys: new Map(values.map((value, index) => [`k${index}`, { key: `k${index}`, value, revision: index + 1, lease: undefined, owner: undefined }])),
        holds: new Map(values.map((value, index) => [`lock:${index + 1}`, { table: "lock", name: `l${index}`, limit: undefined, token: index + 1, lease: 1, mode: "exclusive", request: index, value, lockDelay: 0, delayUntil: undefined }])),
      }),
    );
    const state = storage.load();
    storage.close();
    expect(state.keys.map((row) => row.value)).toEqual(values);
    expect(state.holds.map((row) => row.value)).toEqual(values);
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

  it("writes to the WAL only the pages a batch changes: an overwritten key's or counter's own page, the meta page only when a counter changed", () => {
    const dir = tempDir();
    const storage = new SqliteStorage(dir, { sync: "process" });
    const session = { id: "s1", secret: "x", createdAt: 1_000, agent: undefined, lastRequest: 1, principal: undefined, account: undefined };
    const key = (index: number, revision: number) => ({ key: `k:${String(index).padStart(4, "0")}`, value: "v".repeat(100), revision, lease: undefined, owner: "token:a" });
    // Several pages of keys (about 30 a page), so that a key's page is not the last one.
    storage.write(
      batch({
        revision: 300,
        nextLeaseId: 2,
        sessions: new Map([["s1", session]]),
        keys: new Map(Array.from({ length: 300 }, (_, index) => [key(index, index + 1).key, key(index, index + 1)])),
        counters: new Map(Array.from({ length: 300 }, (_, index) => [`c:${String(index).padStart(4, "0")}`, { name: `c:${String(index).padStart(4, "0")}`, value: 1, owner: "token:a" }])),
      }),
    );
    const framesOf = (write: () => void): number => {
      const wal = `${join(dir, DATABASE_FILE)}-wal`;
      const before = statSync(wal).size;
      write();
      return (statSync(wal).size - before) / (4_096 + 24);
    };
    // A put: the key's leaf page and the meta page (the revision). INSERT OR REPLACE moved the row to
    // a new rowid (the last page) and rewrote the key's index page too: 4 frames.
    expect(framesOf(() => storage.write(batch({ revision: 301, nextLeaseId: 2, keys: new Map([["k:0100", key(100, 301)]]) })))).toBe(2);
    // A counter's update: its own page (counters change no revision).
    expect(framesOf(() => storage.write(batch({ revision: 301, nextLeaseId: 2, counters: new Map([["c:0100", { name: "c:0100", value: 2, owner: "token:a" }]]) })))).toBe(1);
    // A request that changed no counter: the session's page alone.
    expect(framesOf(() => storage.write(batch({ revision: 301, nextLeaseId: 2, sessions: new Map([["s1", { ...session, lastRequest: 2 }]]) })))).toBe(1);
    storage.close();
    const reopened = new SqliteStorage(dir);
    const state = reopened.load();
    reopened.close();
    expect(state.revision).toBe(301);
    expect(state.nextLeaseId).toBe(2);
    expect(state.sessions).toEqual([{ ...session, lastRequest: 2 }]);
    expect(state.keys.find((row) => row.key === "k:0100")).toEqual(key(100, 301));
    expect(state.counters.find((row) => row.name === "c:0100")).toEqual({ name: "c:0100", value: 2, owner: "token:a" });
  });

  it("refuses a second opener while the first holds the directory", () => {
    const dir = tempDir();
    const first = new SqliteStorage(dir);
    expect(() => new SqliteStorage(dir)).toThrow(/locked by another process/);
    first.close();
    expect(() => new SqliteStorage(dir).close()).not.toThrow();
  });
});

/**
 * What the release before per-principal quotas wrote (commit f25373f): its schema, with the version in
 * `meta.schema_version` (1) and none in `PRAGMA user_version`. A fixture, not the code's SCHEMA_V1, so
 * that a change to that constant cannot hide a database the old release really wrote.
 */
function writeReleaseOneDatabase(dir: string): void {
  const db = new Database(join(dir, DATABASE_FILE));
  db.exec(`
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE sessions (id TEXT PRIMARY KEY, secret TEXT NOT NULL, created_at INTEGER NOT NULL, agent TEXT, last_request INTEGER NOT NULL);
    CREATE TABLE leases (id INTEGER PRIMARY KEY, session TEXT NOT NULL, ttl INTEGER NOT NULL, keep_alive INTEGER NOT NULL);
    CREATE TABLE holds (tbl TEXT NOT NULL, token INTEGER NOT NULL, name TEXT NOT NULL, lim INTEGER, lease INTEGER NOT NULL,
      mode TEXT NOT NULL, request INTEGER NOT NULL, value BLOB, PRIMARY KEY (tbl, token));
    CREATE TABLE waits (session TEXT NOT NULL, request INTEGER NOT NULL, tbl TEXT NOT NULL, name TEXT NOT NULL, lim INTEGER,
      lease INTEGER NOT NULL, mode TEXT NOT NULL, value BLOB, seq INTEGER NOT NULL, expires_at INTEGER, PRIMARY KEY (session, request));
    CREATE TABLE keys (key TEXT PRIMARY KEY, value BLOB NOT NULL, revision INTEGER NOT NULL, lease INTEGER);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta VALUES ('schema_version', 1), ('revision', 3), ('next_lease_id', 2);
    INSERT INTO sessions VALUES ('s1', 'secret', 1000, 'worker', 5);
    INSERT INTO leases VALUES (1, 's1', 60000, 1);
    INSERT INTO holds VALUES ('lock', 2, 'gpu', NULL, 1, 'exclusive', 3, NULL);
    INSERT INTO counters VALUES ('visits', 42);
  `);
  db.prepare("INSERT INTO keys VALUES ('config', ?, 1, NULL)").run(encode({ mode: "fast" }));
  db.close();
}

describe("a data directory written by the release before quotas (schema version 1)", () => {
  it("opens, is migrated to the current version, and keeps every row, with no principal", () => {
    const dir = tempDir();
    writeReleaseOneDatabase(dir);
    const storage = new SqliteStorage(dir);
    const state = storage.load();
    expect(state.sessions).toEqual([{ id: "s1", secret: "secret", createdAt: 1_000, agent: "worker", lastRequest: 5, principal: undefined, account: undefined }]);
    expect(state.leases).toEqual([{ id: 1, session: "s1", ttl: 60_000, keepAlive: true }]);
    // Holds from before lock-delays (schema version 3) have none, and are all held (no running delay, version 4).
    expect(state.holds).toEqual([{ table: "lock", name: "gpu", limit: undefined, token: 2, lease: 1, mode: "exclusive", request: 3, value: undefined, lockDelay: 0, delayUntil: undefined }]);
    expect(state.keys).toEqual([{ key: "config", value: { mode: "fast" }, revision: 1, lease: undefined, owner: undefined }]);
    expect(state.counters).toEqual([{ name: "visits", value: 42, owner: undefined }]);
    expect(state.revision).toBe(3);
    // The migrated holds table keeps the end of a lost hold's running lock-delay (version 4).
    const lost = { table: "lock" as const, name: "gpu", limit: undefined, token: 2, lease: 1, mode: "exclusive" as const, request: 3, value: undefined, lockDelay: 500, delayUntil: 1_700_000_000_500 };
    storage.write(batch({ revision: 4, nextLeaseId: 2, leases: new Map([[1, null]]), holds: new Map([["lock:2", lost]]) }));
    expect(storage.load().holds).toEqual([lost]);
    storage.close();
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: SCHEMA_VERSION });
    db.close();
  });

  it("is restored: its session comes back and its keys and counters count against the legacy account", () => {
    const dir = tempDir();
    writeReleaseOneDatabase(dir);
    // What a server does with its data directory as it starts (server.ts), without the sockets.
    const storage = new SqliteStorage(dir);
    const coordinator = new Coordinator(resolveOptions({ clock: new FakeClock(0) }));
    try {
      restore(coordinator, storage.load());
    } finally {
      storage.close();
    }
    expect([...coordinator.sessions.keys()]).toEqual(["s1"]);
    expect(coordinator.accounts.get(LEGACY_ACCOUNT)).toMatchObject({ sessions: 1, leases: 1, keys: 1, counters: 1 });
  });
});
