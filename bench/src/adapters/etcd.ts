import { Etcd3, type IKeyValue, type Lease, type Watcher } from "etcd3";
import { waitDeadline, type AcquireOptions, type AcquireResult, type FenceToken, type LockClient, type LockSystem, type WaiterPool } from "./types.js";

/**
 * etcd locks by the standard recipe (the one etcd's own `concurrency.Mutex` follows): each client
 * has one lease, kept alive; to lock `name` it creates `name/<lease id in hex>` under that lease;
 * the key with the lowest create revision holds the lock, and every other waiter watches for the
 * deletion of the key just ahead of its own. The create revision is the fencing token.
 *
 * etcd3's own `Lock` class is a single-key try-lock without a queue, so it is not used here.
 */

let nextClientId = 0;

export function etcdSystem(url: string): LockSystem {
  return {
    name: "etcd",
    fenced: true,
    queued: true,
    async connect() {
      return new EtcdLockClient(openConnection(url), true, true);
    },
    async openWaiters(count, connections) {
      return etcdWaiters(url, count, connections);
    },
  };
}

/**
 * Many waiters with few connections, for the queue-depth workload: `count` lock clients, each with its
 * own lease (not kept alive: the lease outlives the measurement), sharing `connections` connections.
 */
function etcdWaiters(url: string, count: number, connections: number): WaiterPool {
  const shared = Array.from({ length: Math.max(1, Math.min(count, connections)) }, () => openConnection(url));
  const clients = Array.from({ length: count }, (_, index) => new EtcdLockClient(shared[index % shared.length] as Etcd3, false, false));
  return {
    clients,
    reportsQueued: true,
    async close() {
      // Revoking is a write per lease; a bounded number in flight keeps etcd's batches efficient.
      let next = 0;
      const worker = async () => {
        while (next < clients.length) await clients[next++]?.close();
      };
      await Promise.all(Array.from({ length: 128 }, worker));
      for (const connection of shared) connection.close();
    },
  };
}

/**
 * grpc-js shares one connection among all clients of a process whose channel options are equal.
 * Real etcd clients are separate processes, each with its own connection, so each of ours gets a
 * distinct (otherwise ignored) channel option and with it a connection of its own.
 */
function openConnection(url: string): Etcd3 {
  return new Etcd3({ hosts: url, dialTimeout: 10_000, grpcOptions: { "grpc.leasehold_bench_client": ++nextClientId } });
}

interface Held {
  key: Buffer;
}

class EtcdLockClient implements LockClient {
  private lease: { lease: Lease; id: string; hex: string; ttlMs: number } | undefined;
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly client: Etcd3,
    private readonly keepAlive: boolean,
    /** Whether close() also closes the connection (false for waiters that share one). */
    private readonly ownsConnection: boolean,
  ) {}

  async acquire(name: string, ttlMs: number, options: AcquireOptions): Promise<AcquireResult> {
    const lease = await this.leaseFor(ttlMs);
    const prefix = Buffer.from(`${name}/`);
    const key = Buffer.from(`${name}/${lease.hex}`);
    const prefixEnd = rangeEnd(prefix);
    // One round trip: create our key unless it exists, and read the current owner (lowest create revision).
    const txn = await this.client.kv.txn({
      compare: [{ key, target: "Create", result: "Equal", create_revision: 0 }],
      success: [
        { request_put: { key, value: Buffer.alloc(0), lease: lease.id } },
        { request_range: { key: prefix, range_end: prefixEnd, sort_target: "Create", sort_order: "Ascend", limit: 1 } },
      ],
      failure: [
        { request_range: { key } },
        { request_range: { key: prefix, range_end: prefixEnd, sort_target: "Create", sort_order: "Ascend", limit: 1 } },
      ],
    });
    const mine = txn.succeeded ? txn.header.revision : firstKv(txn.responses[0]?.response_range.kvs)?.create_revision;
    const owner = firstKv(txn.responses[1]?.response_range.kvs);
    if (mine === undefined) throw new Error(`etcd txn on ${name} returned no revision`);
    const myRevision = BigInt(mine);
    if (owner !== undefined && BigInt(owner.create_revision) === myRevision) {
      options.onQueued?.();
      return this.granted(name, key, myRevision);
    }
    if (options.wait === false) {
      await this.client.kv.deleteRange({ key });
      return { acquired: false };
    }
    const deadline = waitDeadline(options.wait, performance.now());
    const outcome = await this.waitForPredecessors(prefix, prefixEnd, myRevision, deadline, options.signal, options.onQueued);
    if (outcome === "owner") return this.granted(name, key, myRevision);
    await this.client.kv.deleteRange({ key });
    return { acquired: false };
  }

  async release(name: string): Promise<boolean> {
    const held = this.held.get(name);
    if (held === undefined) return false;
    this.held.delete(name);
    const response = await this.client.kv.deleteRange({ key: held.key });
    return response.deleted !== "0";
  }

  async put(key: string, value: string): Promise<void> {
    await this.client.kv.put({ key: Buffer.from(key), value: Buffer.from(value) });
  }

  /**
   * As etcd's docs fence a write under `concurrency.Mutex` (`txn.If(mutex.IsOwner())`): one transaction
   * that puts only while our lock key still exists with the create revision that is our token.
   */
  async fencedPut(key: string, value: string, fence: FenceToken): Promise<boolean> {
    const held = this.held.get(fence.lock);
    if (held === undefined) return false;
    const txn = await this.client.kv.txn({
      compare: [{ key: held.key, target: "Create", result: "Equal", create_revision: String(fence.token) }],
      success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(value) } }],
      failure: [],
    });
    return txn.succeeded;
  }

  async get(key: string): Promise<string | undefined> {
    const response = await this.client.kv.range({ key: Buffer.from(key) });
    return firstKv(response.kvs)?.value.toString("utf8");
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    // Revoking deletes every key of ours at once, as a session ending does.
    if (lease !== undefined) await lease.lease.revoke().catch(() => undefined);
    if (this.ownsConnection) this.client.close();
  }

  private granted(name: string, key: Buffer, revision: bigint): AcquireResult {
    this.held.set(name, { key });
    return { acquired: true, token: Number(revision) };
  }

  private async leaseFor(ttlMs: number): Promise<{ id: string; hex: string }> {
    if (this.lease !== undefined) return this.lease;
    // etcd's TTLs are whole seconds, at least 1; the recipe's session uses one lease for all locks.
    const lease = this.client.lease(Math.max(1, Math.ceil(ttlMs / 1000)), { autoKeepAlive: this.keepAlive });
    const id = await lease.grant();
    this.lease = { lease, id, hex: BigInt(id).toString(16), ttlMs };
    return this.lease;
  }

  /**
   * Waits until no key with a lower create revision than ours is left: find the one just ahead,
   * watch it from the revision we read it at (so a delete in between is not missed), repeat.
   */
  private async waitForPredecessors(
    prefix: Buffer,
    prefixEnd: Buffer,
    myRevision: bigint,
    deadline: number,
    signal: AbortSignal | undefined,
    onQueued: (() => void) | undefined,
  ): Promise<"owner" | "gave-up"> {
    let queued = onQueued;
    for (;;) {
      if (signal?.aborted === true || performance.now() >= deadline) return "gave-up";
      const ahead = await this.client.kv.range({
        key: prefix,
        range_end: prefixEnd,
        max_create_revision: String(myRevision - 1n),
        sort_target: "Create",
        sort_order: "Descend",
        limit: 1,
      });
      const predecessor = firstKv(ahead.kvs);
      if (predecessor === undefined) {
        queued?.();
        return "owner";
      }
      await keepWatchStream(this.client);
      const watcher = await this.client
        .watch()
        .key(predecessor.key)
        .startRevision(String(BigInt(ahead.header.revision) + 1n))
        .create();
      // Our key is in place and we watch the one ahead: this waiter is queued.
      queued?.();
      queued = undefined;
      const deleted = await deletedOrGaveUp(watcher, deadline, signal);
      // Not awaited, as etcd's Go client cancels a finished watch: the next read need not wait for it.
      void watcher.cancel().catch(() => undefined);
      if (!deleted) return "gave-up";
    }
  }
}

/**
 * etcd3 closes a connection's watch stream when its last watcher is cancelled, and the stream's
 * CANCELLED status then makes its connection pool tear down and redial every channel of that client
 * (seen here as hundreds of reconnects a second under contention). A waiter cancels its watch after
 * every handoff, so without this each grant would pay a reconnect that a Go client never pays. One
 * idle watch on a key nobody writes keeps the stream open for the client's lifetime.
 */
const anchors = new WeakMap<Etcd3, Promise<Watcher>>();

function keepWatchStream(client: Etcd3): Promise<Watcher> {
  let anchor = anchors.get(client);
  if (anchor === undefined) {
    anchor = client.watch().key(`bench:etcd-watch-anchor:${process.pid}`).create();
    anchors.set(client, anchor);
  }
  return anchor;
}

function deletedOrGaveUp(watcher: Watcher, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (deleted: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      watcher.off("delete", onDelete);
      resolve(deleted);
    };
    const onDelete = () => finish(true);
    const onAbort = () => finish(false);
    const remaining = deadline - performance.now();
    const timer = Number.isFinite(remaining) ? setTimeout(() => finish(false), Math.max(0, remaining)) : undefined;
    watcher.on("delete", onDelete);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function firstKv(kvs: IKeyValue[] | undefined): IKeyValue | undefined {
  return kvs?.[0];
}

/** The end of the key range that holds every key starting with `prefix` (prefix with its last byte + 1). */
function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let index = end.length - 1; index >= 0; index--) {
    if ((end[index] as number) < 0xff) {
      end[index] = (end[index] as number) + 1;
      return end.subarray(0, index + 1);
    }
  }
  return Buffer.from([0]);
}
