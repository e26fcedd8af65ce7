import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { decode, encode, type Value } from "@leasehold/protocol";
import { EtcdClient } from "../../packages/server/src/cluster/etcd-client.js";
import { Leadership } from "../../packages/server/src/cluster/leadership.js";
import { EtcdStorage, LeaderDeposedError } from "../../packages/server/src/persistence/etcd-storage.js";
import { SqliteStorage } from "../../packages/server/src/persistence/sqlite-storage.js";
import { emptyBatch, type Batch, type StoredState } from "../../packages/server/src/persistence/storage.js";
import { encodeBatch } from "../../packages/server/src/persistence/stored-tables.js";
import { startEtcdCluster, type EtcdCluster } from "../support/etcd-cluster.js";
import { defer } from "../support/fixtures.js";

let cluster: EtcdCluster;
beforeAll(async () => {
  cluster = await startEtcdCluster({ manualStop: true });
});
afterAll(() => cluster.stop());

let nextPrefix = 0;
/** A client, a data prefix and a leader key (created now; its create revision is the epoch). */
async function setup(): Promise<{ client: EtcdClient; prefix: string; leaderKey: string; epoch: number }> {
  const client = new EtcdClient(cluster.endpoints);
  defer(() => client.close());
  const prefix = `/data-${++nextPrefix}/`;
  const leaderKey = `/leader-${nextPrefix}`;
  const epoch = await client.put(leaderKey, new Uint8Array());
  return { client, prefix, leaderKey, epoch };
}

function sqlite(): SqliteStorage {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-sqlite-"));
  const storage = new SqliteStorage(dir);
  defer(() => {
    storage.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return storage;
}

/** SQLite gives sessions, keys and counters in its own row order; the rest is ordered by both. */
function normalised(state: StoredState): StoredState {
  const by = <T>(key: (row: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  return {
    ...state,
    sessions: [...state.sessions].sort(by((row) => row.id)),
    keys: [...state.keys].sort(by((row) => row.key)),
    counters: [...state.counters].sort(by((row) => row.name)),
  };
}

describe("EtcdStorage on a real 3-member etcd", () => {
  it("loads exactly what SqliteStorage loads for the same batches, through snapshots and across restarts", async () => {
    const { client, prefix, leaderKey, epoch } = await setup();
    const reference = sqlite();
    const storage = new EtcdStorage({ client, prefix, leaderKey, epoch, snapshotAfterEntries: 40 });
    expect(await storage.load()).toEqual(reference.load());
    const batches = [...sqliteTestBatches(), ...randomBatches(7, 150)];
    for (const [index, batch] of batches.entries()) {
      reference.write(batch);
      await storage.write(batch);
      if (index === 100) {
        // A new leader in the middle: a fresh store loads the same state, and writes on from it.
        await storage.snapshot();
        expect(normalised(await new EtcdStorage({ client, prefix, leaderKey, epoch }).load())).toEqual(normalised(reference.load()));
      }
    }
    await storage.close();
    const loaded = await new EtcdStorage({ client, prefix, leaderKey, epoch }).load();
    expect(normalised(loaded)).toEqual(normalised(reference.load()));
    expect(loaded.holds.length + loaded.waits.length + loaded.keys.length).toBeGreaterThan(10);
    // Rows of lost holds whose lock-delay runs keep its end in both stores.
    expect(loaded.holds.some((row) => row.delayUntil !== undefined)).toBe(true);
    // Snapshots happened by themselves (every 40 entries): the log holds fewer than 40 entries.
    expect((await client.getPrefix(`${prefix}log/`, { keysOnly: true })).kvs.length).toBeLessThan(40);
  });

  it("a deposed leader's write fails with LeaderDeposedError and commits nothing; the new leader loads every write before it", async () => {
    const client = new EtcdClient(cluster.endpoints);
    defer(() => client.close());
    const prefix = `/data-${++nextPrefix}/`;
    const election = `/election-${nextPrefix}/`;
    const a = new Leadership({ client, prefix: election, ttlSeconds: 1 });
    const b = new Leadership({ client, prefix: election, ttlSeconds: 1 });
    defer(() => Promise.all([a.resign(), b.resign()]));
    const termA = await a.campaign();
    const storageA = new EtcdStorage({ client, prefix, leaderKey: termA.key, epoch: termA.epoch });
    await storageA.load();
    await storageA.write(keyBatch(1, "before", "a"));
    const campaignB = b.campaign();
    await vi.waitFor(() => expect(b.state.state).toBe("campaigning"));
    await client.revokeLease(termA.lease);
    const termB = await campaignB;
    await expect(storageA.write(keyBatch(2, "after", "a"))).rejects.toThrow(LeaderDeposedError);
    // Stopped for good: a later write fails too, without reaching etcd.
    await expect(storageA.write(keyBatch(3, "later", "a"))).rejects.toThrow(LeaderDeposedError);
    const storageB = new EtcdStorage({ client, prefix, leaderKey: termB.key, epoch: termB.epoch });
    const state = await storageB.load();
    expect(state.keys.map((row) => row.key)).toEqual(["before"]);
    expect(state.revision).toBe(1);
    await storageB.write(keyBatch(2, "after", "b"));
    expect((await new EtcdStorage({ client, prefix, leaderKey: termB.key, epoch: termB.epoch }).load()).keys.map((row) => row.key).sort()).toEqual(["after", "before"]);
  });

  it("log entries in flight together commit in order: one that reaches etcd before its predecessor is refused, sent again after it, and acknowledged after it", async () => {
    const { prefix, leaderKey, epoch } = await setup();
    const client = holdingClient();
    const storage = new EtcdStorage({ client, prefix, leaderKey, epoch });
    await storage.load();
    await storage.write(keyBatch(1, "a", 1));
    const second = client.hold(`${prefix}log/${seqKey(2)}`);
    const acknowledged: string[] = [];
    const writes = [storage.write(keyBatch(2, "b", 2)).then(() => acknowledged.push("b")), storage.write(keyBatch(3, "c", 3)).then(() => acknowledged.push("c"))];
    // Entry 3 reached etcd first: refused for the lack of entry 2, so nothing after a missing entry is stored.
    await vi.waitFor(() => expect(storage.reorderedWrites).toBe(1));
    expect(await logSeqs(client, prefix)).toEqual([1]);
    expect(acknowledged).toEqual([]);
    (await second).send();
    await Promise.all(writes);
    expect(acknowledged).toEqual(["b", "c"]);
    expect(await logSeqs(client, prefix)).toEqual([1, 2, 3]);
    expect((await new EtcdStorage({ client, prefix, leaderKey, epoch }).load()).keys.map((row) => row.key)).toEqual(["a", "b", "c"]);
  });

  it("an entry that fails stops the leader: the entry in flight behind it never commits, and the next leader goes on from the one before", async () => {
    const { prefix, leaderKey, epoch } = await setup();
    const client = holdingClient();
    const storage = new EtcdStorage({ client, prefix, leaderKey, epoch });
    await storage.load();
    await storage.write(keyBatch(1, "a", 1));
    const second = client.hold(`${prefix}log/${seqKey(2)}`);
    const writes = [storage.write(keyBatch(2, "b", 2)), storage.write(keyBatch(3, "c", 3))];
    await vi.waitFor(() => expect(storage.reorderedWrites).toBe(1));
    (await second).fail(new Error("the member refused it"));
    for (const write of writes) await expect(write).rejects.toThrow(/writing to etcd under .* failed: the member refused it/);
    await expect(storage.write(keyBatch(4, "d", 4))).rejects.toThrow(/the member refused it/);
    expect(await logSeqs(client, prefix)).toEqual([1]);
    // The next leader (a new election key) loads entry 1 only and writes its own entry 2.
    await client.txn([], [{ op: "delete", key: leaderKey }]);
    const next = await client.put(`${leaderKey}-next`, new Uint8Array());
    const successor = new EtcdStorage({ client, prefix, leaderKey: `${leaderKey}-next`, epoch: next });
    expect((await successor.load()).revision).toBe(1);
    await successor.write(keyBatch(2, "e", 5));
    expect((await new EtcdStorage({ client, prefix, leaderKey: `${leaderKey}-next`, epoch: next }).load()).keys.map((row) => row.key)).toEqual(["a", "e"]);
  });

  it("refuses to load a log with a gap (this code never writes one): nothing after a missing entry is replayed", async () => {
    const { client, prefix, leaderKey, epoch } = await setup();
    await client.put(`${prefix}log/${seqKey(1)}`, encode({ batch: encodeBatch(keyBatch(1, "a", 1)) }));
    await client.put(`${prefix}log/${seqKey(3)}`, encode({ batch: encodeBatch(keyBatch(3, "c", 3)) }));
    await expect(new EtcdStorage({ client, prefix, leaderKey, epoch }).load()).rejects.toThrow(/lacks entry 2 before entry 3; restore a backup/);
  });

  it("a snapshot larger than etcd's 1.5 MiB request limit is written in chunks, and so is a batch that large", async () => {
    const { client, prefix, leaderKey, epoch } = await setup();
    const storage = new EtcdStorage({ client, prefix, leaderKey, epoch });
    await storage.load();
    const big = emptyBatch();
    big.revision = 40;
    big.nextLeaseId = 1;
    for (let index = 0; index < 40; index++) {
      const key = `blob-${index}`;
      big.keys.set(key, { key, value: new Uint8Array(48 * 1024).fill(index), revision: index + 1, lease: undefined, owner: "token:w" });
    }
    await storage.write(big);
    expect((await client.getPrefix(`${prefix}part/`, { keysOnly: true })).kvs.length).toBe(2);
    await storage.snapshot();
    expect((await client.getPrefix(`${prefix}snapshot/`, { keysOnly: true })).kvs.map((kv) => kv.key.slice(prefix.length).split("/")[2] ?? "manifest")).toHaveLength(3);
    // The snapshot's own entry stays (the next entry is guarded by its existence), without its parts.
    expect(await logSeqs(client, prefix)).toEqual([1]);
    expect((await client.getPrefix(`${prefix}part/`, { keysOnly: true })).kvs).toEqual([]);
    const loaded = await new EtcdStorage({ client, prefix, leaderKey, epoch }).load();
    expect(loaded.keys).toHaveLength(40);
    expect(loaded.keys.find((row) => row.key === "blob-39")?.value).toEqual(Buffer.from(new Uint8Array(48 * 1024).fill(39)));
  });

  it("ignores the pieces a leader left when it died in the middle of a larger batch or snapshot", async () => {
    const { client, prefix, leaderKey, epoch } = await setup();
    // A dead leader's leftovers for log entry 1 and a snapshot at entry 1: three parts each, no log key, no manifest.
    for (const kind of ["part", "snapshot"]) {
      for (let index = 0; index < 3; index++) await client.put(`${prefix}${kind}/${"1".padStart(16, "0")}/${String(index).padStart(16, "0")}`, new Uint8Array(10).fill(0xee));
    }
    const storage = new EtcdStorage({ client, prefix, leaderKey, epoch, chunkBytes: 64 * 1024 });
    expect((await storage.load()).keys).toEqual([]);
    // Entry 1 again, in two parts this time, then a snapshot of two chunks at entry 1.
    await storage.write(keyBatch(1, "big", "y".repeat(100 * 1024)));
    expect(normalised(await new EtcdStorage({ client, prefix, leaderKey, epoch }).load()).keys.map((row) => row.key)).toEqual(["big"]);
    await storage.snapshot();
    const loaded = await new EtcdStorage({ client, prefix, leaderKey, epoch }).load();
    expect(loaded.keys.map((row) => [row.key, (row.value as string).length])).toEqual([["big", 100 * 1024]]);
  });

  it("keeps the token floor: load never gives a revision below it", async () => {
    const { client, prefix, leaderKey, epoch } = await setup();
    const storage = new EtcdStorage({ client, prefix, leaderKey, epoch });
    await storage.load();
    await storage.write(keyBatch(5, "k", "v"));
    await storage.raiseTokenFloor(1_000);
    await storage.raiseTokenFloor(10);
    expect((await new EtcdStorage({ client, prefix, leaderKey, epoch }).load()).revision).toBe(1_000);
  });
});

describe("EtcdStorage when an etcd member dies", () => {
  it("a write whose member died is sent again elsewhere: committed once, nothing lost", async () => {
    const own = await startEtcdCluster();
    const client = new EtcdClient(own.endpoints);
    defer(() => client.close());
    const leaderKey = "/leader";
    const epoch = await client.put(leaderKey, new Uint8Array());
    const storage = new EtcdStorage({ client, prefix: "/data/", leaderKey, epoch });
    await storage.load();
    await storage.write(keyBatch(1, "a", "1"));
    await own.members.find((member) => member.clientUrl === client.endpoint)!.kill();
    await storage.write(keyBatch(2, "b", "2"));
    expect((await client.getPrefix("/data/log/", { keysOnly: true })).kvs).toHaveLength(2);
    const loaded = await new EtcdStorage({ client, prefix: "/data/", leaderKey, epoch }).load();
    expect(loaded.keys.map((row) => row.key).sort()).toEqual(["a", "b"]);
    expect(loaded.revision).toBe(2);
  });
});

describe("EtcdStorage closed with a write in flight to a hung member", () => {
  it("does not send it again: close() resolves after the attempt in flight, not after all 4", async () => {
    const own = await startEtcdCluster({ size: 1 });
    const writeTimeoutMs = 300;
    const client = new EtcdClient(own.endpoints, { writeTimeoutMs });
    defer(() => client.close());
    const leaderKey = "/leader";
    const epoch = await client.put(leaderKey, new Uint8Array());
    const storage = new EtcdStorage({ client, prefix: "/data/", leaderKey, epoch });
    await storage.load();
    own.members[0]!.pause();
    defer(() => own.members[0]!.resume());
    const write = storage.write(keyBatch(1, "a", "1"));
    write.catch(() => undefined);
    // As a leader that steps down does: its server closes the store with a write outstanding.
    const started = performance.now();
    await storage.close();
    const closedAfterMs = performance.now() - started;
    await expect(write).rejects.toThrow(/writing to etcd under \/data\/ failed/);
    expect(closedAfterMs).toBeGreaterThanOrEqual(writeTimeoutMs - 50);
    expect(closedAfterMs).toBeLessThan(2 * writeTimeoutMs);
  });
});

describe("EtcdStorage keeps etcd's database bounded", () => {
  it("snapshots, deletes the old log and compacts, so that 6 MiB of writes leave under 2 MiB in use", async () => {
    const own = await startEtcdCluster();
    const client = new EtcdClient(own.endpoints);
    defer(() => client.close());
    const leaderKey = "/leader";
    const epoch = await client.put(leaderKey, new Uint8Array());
    const storage = new EtcdStorage({ client, prefix: "/data/", leaderKey, epoch, snapshotAfterEntries: 25 });
    await storage.load();
    const before = await inUse(client);
    const value = "x".repeat(16 * 1024);
    const started = performance.now();
    for (let index = 1; index <= 400; index++) await storage.write(keyBatch(index, `k${index % 10}`, `${index}${value}`));
    const perWriteMs = (performance.now() - started) / 400;
    await storage.snapshot();
    await storage.close();
    const after = await vi.waitFor(async () => {
      const bytes = await inUse(client);
      expect(bytes).toBeLessThan(2 * 1024 * 1024);
      return bytes;
    });
    console.log(`etcd db in use: ${(before / 1024).toFixed(0)} KiB before, ${(after / 1024).toFixed(0)} KiB (file ${((await fileSize(client)) / 1024).toFixed(0)} KiB) after 400 writes of 16 KiB (${perWriteMs.toFixed(1)} ms each, one after another, with snapshots)`);
  });
});

describe("EtcdStorage keeps a new leader's replay short (a failover replays the log since the last snapshot)", () => {
  it("by default snapshots within 1,000 log entries, so a new leader replays at most that many", async () => {
    const { client, prefix, leaderKey, epoch } = await setup();
    const storage = new EtcdStorage({ client, prefix, leaderKey, epoch });
    await storage.load();
    for (let index = 1; index <= 1_100; index++) await storage.write(keyBatch(index, `k${index % 10}`, index));
    await vi.waitFor(async () => expect((await client.getPrefix(`${prefix}log/`, { keysOnly: true })).kvs.length).toBeLessThanOrEqual(1_000));
    await storage.close();
    const next = new EtcdStorage({ client, prefix, leaderKey, epoch });
    expect((await next.load()).keys).toHaveLength(10);
    expect(next.lastLoad?.logEntries).toBeLessThanOrEqual(1_000);
    console.log(`a new leader's load after 1,100 writes: ${next.lastLoad?.ms.toFixed(0)} ms, ${next.lastLoad?.logEntries} log entries replayed`);
  });

  it("waits for a log of a quarter of a large snapshot's size, so that a large state is not rewritten every few entries", async () => {
    const { client, prefix, leaderKey, epoch } = await setup();
    const storage = new EtcdStorage({ client, prefix, leaderKey, epoch, snapshotAfterEntries: 10 });
    await storage.load();
    await storage.write(keyBatch(1, "large", "x".repeat(100_000)));
    await storage.snapshot();
    const manifestSeq = async () => (decode((await client.get(`${prefix}snapshot/manifest`)).kv?.value ?? encode(null)) as { seq: number } | null)?.seq;
    expect(await manifestSeq()).toBe(1);
    // 40 small entries: 4 times the entry threshold, but far less than a quarter of the 100 KB snapshot.
    for (let index = 2; index <= 41; index++) await storage.write(keyBatch(index, `k${index % 5}`, index));
    await storage.close();
    expect(await manifestSeq()).toBe(1);
    const next = new EtcdStorage({ client, prefix, leaderKey, epoch, snapshotAfterEntries: 10 });
    await next.load();
    // A quarter of the snapshot's size in one entry: the log is now worth a snapshot.
    await next.write(keyBatch(42, "large2", "y".repeat(30_000)));
    await vi.waitFor(async () => expect(await manifestSeq()).toBe(42));
    await next.close();
  });
});

async function inUse(client: EtcdClient): Promise<number> {
  return Math.max(...(await client.status()).map((status) => (status.ok ? status.dbSizeInUse : 0)));
}

async function fileSize(client: EtcdClient): Promise<number> {
  return Math.max(...(await client.status()).map((status) => (status.ok ? status.dbSize : 0)));
}

/**
 * A client whose transaction that puts a held key waits until the test sends it on (or fails it
 * without reaching etcd): the test decides the order in which etcd sees the entries in flight.
 */
function holdingClient() {
  const holds = new Map<string, (held: { send: () => void; fail: (error: Error) => void }) => void>();
  class HoldingClient extends EtcdClient {
    override async txn(...args: Parameters<EtcdClient["txn"]>): ReturnType<EtcdClient["txn"]> {
      const put = args[1].find((op) => op.op === "put");
      const onHeld = put && holds.get(put.key);
      if (put && onHeld) {
        holds.delete(put.key);
        await new Promise<void>((send, fail) => onHeld({ send: () => send(), fail }));
      }
      return super.txn(...args);
    }

    /** Resolves once the transaction putting `key` arrives, with what lets it go on. */
    hold(key: string): Promise<{ send: () => void; fail: (error: Error) => void }> {
      return new Promise((resolve) => holds.set(key, resolve));
    }
  }
  const client = new HoldingClient(cluster.endpoints);
  defer(() => client.close());
  return client;
}

/** The sequence numbers of the log entries stored under `prefix`. */
async function logSeqs(client: EtcdClient, prefix: string): Promise<number[]> {
  return (await client.getPrefix(`${prefix}log/`, { keysOnly: true })).kvs.map((kv) => Number(kv.key.slice(`${prefix}log/`.length)));
}

function seqKey(seq: number): string {
  return String(seq).padStart(16, "0");
}

function keyBatch(revision: number, key: string, value: Value): Batch {
  return { ...emptyBatch(), revision, nextLeaseId: 1, keys: new Map([[key, { key, value, revision, lease: undefined, owner: undefined }]]) };
}

/** The batches of sqlite-storage.test.ts's first case. */
function sqliteTestBatches(): Batch[] {
  return [
    {
      ...emptyBatch(),
      revision: 7,
      nextLeaseId: 3,
      sessions: new Map([["s1", { id: "s1", secret: "x", createdAt: 1_000, agent: "test", lastRequest: 4, principal: "token:worker", account: "token:worker" }]]),
      leases: new Map([
        [1, { id: 1, session: "s1", ttl: 5_000, keepAlive: true }],
        [2, { id: 2, session: "s1", ttl: 9_000, keepAlive: false }],
      ]),
      holds: new Map([["lock:5", { table: "lock", name: "gpu", limit: 4, token: 5, lease: 1, mode: "exclusive", request: 2, value: undefined, lockDelay: 700, delayUntil: undefined }]]),
      waits: new Map([["s1:3", { table: "election", name: "leader", limit: undefined, session: "s1", request: 3, lease: 2, mode: "exclusive", value: { tab: 1 }, lockDelay: 0, seq: 9, expiresAt: 123 }]]),
      keys: new Map([["k", { key: "k", value: { a: [1, "b", null, new Uint8Array([1, 2])] }, revision: 6, lease: 1, owner: "token:worker" }]]),
      counters: new Map([
        ["visits", { name: "visits", value: 42, owner: "token:worker" }],
        ["hits", { name: "hits", value: 7, owner: "address:127.0.0.1" }],
      ]),
    },
    { ...emptyBatch(), revision: 8, nextLeaseId: 3, leases: new Map([[2, null]]), counters: new Map([["visits", null]]) },
  ];
}

/**
 * Batches of random row changes over a few ids of each table, so that rows are written, rewritten
 * and deleted: session rows rewritten with other fields too (SQLite keeps all but lastRequest).
 */
function randomBatches(seed: number, count: number): Batch[] {
  let state = seed;
  const random = () => ((state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const values: (Value | undefined)[] = [undefined, null, "text", 42, 1.5, true, new Uint8Array([9, 8, 7]), { nested: [1, { deep: "x" }] }, []];
  const batches: Batch[] = [];
  let revision = 100;
  for (let index = 0; index < count; index++) {
    const batch = { ...emptyBatch(), revision: (revision += 1 + Math.floor(random() * 3)), nextLeaseId: 10 + index };
    const changes = 1 + Math.floor(random() * 6);
    for (let change = 0; change < changes; change++) {
      const remove = random() < 0.3;
      const session = `s${Math.floor(random() * 4)}`;
      const id = Math.floor(random() * 6);
      switch (pick(["session", "lease", "hold", "wait", "key", "counter"] as const)) {
        case "session":
          batch.sessions.set(session, remove ? null : { id: session, secret: `secret-${index}`, createdAt: index, agent: pick([undefined, "agent"]), lastRequest: index, principal: pick([undefined, "token:p"]), account: pick([undefined, "token:p"]) });
          break;
        case "lease":
          batch.leases.set(id, remove ? null : { id, session, ttl: 1_000 * id, keepAlive: random() < 0.5 });
          break;
        case "hold": {
          const table = pick(["lock", "election"] as const);
          // Tokens come from one global revision: never the same in both tables.
          const token = table === "lock" ? id * 2 : id * 2 + 1;
          batch.holds.set(`${table}:${token}`, remove ? null : { table, name: `n${id}`, limit: pick([undefined, 3]), token, lease: id, mode: pick(["exclusive", "shared"] as const), request: index, value: pick(values) as Value | undefined, lockDelay: pick([0, 250]), delayUntil: pick([undefined, 9_000]) });
          break;
        }
        case "wait":
          batch.waits.set(`${session}:${id}`, remove ? null : { table: pick(["lock", "election"] as const), name: `n${id}`, limit: pick([undefined, 2]), session, request: id, lease: id, mode: "exclusive", value: pick(values) as Value | undefined, lockDelay: pick([0, 250]), seq: index * 10 + change, expiresAt: pick([undefined, 5_000]) });
          break;
        case "key":
          batch.keys.set(`key${id}`, remove ? null : { key: `key${id}`, value: (pick(values) ?? "v") as Value, revision: batch.revision, lease: pick([undefined, id]), owner: pick([undefined, "token:o"]) });
          break;
        case "counter":
          batch.counters.set(`c${id}`, remove ? null : { name: `c${id}`, value: index, owner: pick([undefined, "token:o"]) });
          break;
      }
    }
    batches.push(batch);
  }
  return batches;
}
