import { fstatSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, FakeClock } from "@leasehold/protocol";
import { Account } from "../core/accounts.js";
import { BackgroundSyncSqliteStorage, type Fsync } from "./background-sync-sqlite-storage.js";
import { CommitPipeline } from "./commit.js";
import { SLOW_IN_A_ROW } from "./fsync-placement.js";
import { SqliteStorage } from "./sqlite-storage.js";
import { StorageError, emptyBatch, type Batch } from "./storage.js";

const dirs: string[] = [];
const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-background-sync-"));
  dirs.push(dir);
  return dir;
}
function open<T extends { close(): unknown }>(storage: T): T {
  opened.push(storage);
  return storage;
}

/** An fsync that waits until the test lets it end, remembering which file it was asked for. */
function heldFsync(): { fsync: Fsync; calls: number[]; end(error?: NodeJS.ErrnoException): void } {
  const waiting: ((error: NodeJS.ErrnoException | null) => void)[] = [];
  const calls: number[] = [];
  return {
    fsync: (fd, done) => {
      calls.push(fd);
      waiting.push(done);
    },
    calls,
    end: (error) => waiting.shift()?.(error ?? null),
  };
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
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
  return { ...emptyBatch(), revision: 8, nextLeaseId: 3, leases: new Map([[2, null]]), keys: new Map([["k2", { key: "k2", value: "v", revision: 8, lease: undefined, owner: undefined }]]) };
}

describe("BackgroundSyncSqliteStorage", () => {
  it("stores what SqliteStorage stores for the same batches, and loads it after a restart", async () => {
    const dir = tempDir();
    const storage = new BackgroundSyncSqliteStorage(dir);
    await storage.write(everyRowBatch());
    await storage.write(laterBatch());
    await storage.close();

    const referenceDir = tempDir();
    const reference = new SqliteStorage(referenceDir);
    reference.write(everyRowBatch());
    reference.write(laterBatch());
    reference.close();

    const expected = open(new SqliteStorage(referenceDir)).load();
    expect(expected.keys).toHaveLength(2);
    expect(open(new BackgroundSyncSqliteStorage(dir)).load()).toEqual(expected);
  });

  it("settles a write only once the WAL file is fsync'd, and the event loop goes on meanwhile", async () => {
    const dir = tempDir();
    const held = heldFsync();
    const storage = open(new BackgroundSyncSqliteStorage(dir, { fsync: held.fsync, fsyncIn: "pool" }));
    let synced = false;
    const written = Promise.resolve(storage.write(everyRowBatch())).then(() => (synced = true));
    await turns(3);
    expect(synced).toBe(false);
    expect(held.calls).toHaveLength(1);
    // The file fsync'd is the database's WAL, where the transaction's frames are.
    expect(fstatSync(held.calls[0] as number).ino).toBe(statSync(join(dir, "leasehold.db-wal")).ino);
    held.end();
    await written;
    expect(synced).toBe(true);
  });

  it("rejects the write whose fsync failed, saying so", async () => {
    const held = heldFsync();
    const storage = open(new BackgroundSyncSqliteStorage(tempDir(), { fsync: held.fsync, fsyncIn: "pool" }));
    const written = storage.write(everyRowBatch());
    held.end(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }));
    await expect(written).rejects.toBeInstanceOf(StorageError);
    await expect(written).rejects.toThrow(/fsync of .*leasehold.db-wal failed: EIO/);
  });

  it("waits for the fsync in flight before it closes", async () => {
    const dir = tempDir();
    const held = heldFsync();
    const storage = new BackgroundSyncSqliteStorage(dir, { fsync: held.fsync, fsyncIn: "pool" });
    const written = storage.write(everyRowBatch());
    let closed = false;
    const closing = storage.close().then(() => (closed = true));
    await turns(3);
    expect(closed).toBe(false);
    held.end();
    await Promise.all([written, closing]);
    expect(open(new SqliteStorage(dir)).load().revision).toBe(7);
  });

  it("on a fast disk, fsyncs the WAL inline: the write is durable when it returns, and the pool is not used", () => {
    const dir = tempDir();
    const held = heldFsync();
    const inline: number[] = [];
    const storage = open(new BackgroundSyncSqliteStorage(dir, { fsync: held.fsync, fsyncInline: (fd) => void inline.push(fd) }));
    expect(storage.write(everyRowBatch())).toBeUndefined();
    expect(storage.write(laterBatch())).toBeUndefined();
    expect(held.calls).toEqual([]);
    expect(inline).toHaveLength(2);
    expect(fstatSync(inline[0] as number).ino).toBe(statSync(join(dir, "leasehold.db-wal")).ino);
  });

  it("moves the fsync to the pool once inline fsyncs were slow SLOW_IN_A_ROW times in a row", async () => {
    const clock = new FakeClock();
    const held = heldFsync();
    // A slow disk: each inline fsync takes 5 ms of the clock.
    const storage = open(new BackgroundSyncSqliteStorage(tempDir(), { fsync: held.fsync, fsyncInline: () => clock.advance(5), clock }));
    for (let slow = 0; slow < SLOW_IN_A_ROW; slow++) expect(storage.write(everyRowBatch())).toBeUndefined();
    const written = storage.write(laterBatch());
    expect(written).toBeInstanceOf(Promise);
    expect(held.calls).toHaveLength(1);
    held.end();
    await written;
  });

  it("with fsyncIn: \"inline\" (a benchmark's switch), keeps slow fsyncs inline", () => {
    const clock = new FakeClock();
    const held = heldFsync();
    const storage = open(new BackgroundSyncSqliteStorage(tempDir(), { fsync: held.fsync, fsyncInline: () => clock.advance(5), clock, fsyncIn: "inline" }));
    for (let slow = 0; slow <= SLOW_IN_A_ROW; slow++) expect(storage.write(slow === 0 ? everyRowBatch() : laterBatch())).toBeUndefined();
    expect(held.calls).toEqual([]);
  });

  it("throws a StorageError saying so when an inline fsync fails", () => {
    const storage = open(
      new BackgroundSyncSqliteStorage(tempDir(), {
        fsyncInline: () => {
          throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
        },
      }),
    );
    expect(() => storage.write(everyRowBatch())).toThrow(StorageError);
    expect(() => storage.write(laterBatch())).toThrow(/fsync of .*leasehold.db-wal failed: EIO/);
  });

  it("with sync: \"process\", writes without an fsync and answers at once", () => {
    const held = heldFsync();
    const storage = open(new BackgroundSyncSqliteStorage(tempDir(), { sync: "process", fsync: held.fsync }));
    expect(storage.write(everyRowBatch())).toBeUndefined();
    expect(held.calls).toEqual([]);
  });

  it("with its fsync in the pool, the batch after a commit waits for the clients just answered: two groups of clients share one fsync", async () => {
    const clock = new FakeClock(0);
    const held = heldFsync();
    try {
      const storage = open(new BackgroundSyncSqliteStorage(tempDir(), { fsync: held.fsync, fsyncIn: "pool", clock }));
      const sent: number[] = [];
      const commits = new CommitPipeline(storage, () => ({ revision: 1, nextLeaseId: 1 }), () => {}, undefined, undefined, clock);
      const owner = new Account("test", DEFAULT_LIMITS);
      // Client `id` changes its counter and is answered once that change is on disk.
      const request = (id: number) => {
        commits.journal.counter(`c${id}`, id, owner);
        commits.send({ sendNow: (message) => void sent.push(message.type === "reply" ? message.id : -1) }, { type: "reply", id, result: {} });
      };
      request(1);
      await turns(2);
      // Client 2's request arrives while client 1's fsync (4 ms) runs.
      request(2);
      await turns(2);
      clock.advance(4);
      held.end();
      await turns(2);
      expect(sent).toEqual([1]);
      // Client 1 was just answered: its next request is worth a wait of up to 8 ms (twice the commit), so nothing is written yet.
      expect(held.calls).toHaveLength(1);
      request(3);
      await turns(2);
      // One fsync for both waiting clients (without gathering: client 2 alone, then client 3 after it).
      expect(held.calls).toHaveLength(2);
      held.end();
      await turns(2);
      expect(sent).toEqual([1, 2, 3]);
      await commits.settled();
    } finally {
      // A failed expectation leaves an fsync held, and close (afterEach) would wait for it.
      held.end();
    }
  });
});
