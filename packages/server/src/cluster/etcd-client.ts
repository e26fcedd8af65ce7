import { ConstantBackoff, noop } from "cockatiel";
import { Etcd3, isRecoverableError, type IKeyValue } from "etcd3";
import { decodeTxnResponse, encodeTxnRequest, prefixEnd, type Compare, type KeyValue, type TxnOp, type TxnResult } from "./etcd-txn-codec.js";
import { GrpcStatusError, Status, UnaryChannel } from "./grpc-unary.js";

/**
 * The one place that talks to etcd, and only what the cluster needs: guarded transactions, reads,
 * writes and deletes by key or prefix, leases granted, kept alive one keepalive at a time and
 * revoked, compaction and each member's status. It wraps `etcd3` so that it could be swapped for raw
 * `@grpc/grpc-js` without touching its callers.
 *
 * etcd3's fault handling is off: its global policy retries a failed call up to three times, and a
 * retried transaction whose first attempt may have been applied is unsafe (the Jepsen etcd report
 * shows the duplicates this makes); its per-host circuit breaker refuses calls for 5 s after three
 * failures, longer than a whole failover. Its `Lease` class is not used either: it decides by itself
 * that a lease is lost (a keepalive stream silent for one TTL) and records keepalive times on arrival,
 * where the leader must count from the time a keepalive was sent (see leadership.ts).
 *
 * One etcd3 client per endpoint, and calls go to one current endpoint: a read or a keepalive that
 * fails there is tried on the next endpoint (both are safe to repeat); any other write is not, it
 * throws `EtcdRequestError` with `outcomeUnknown` and the next call goes to the next endpoint.
 *
 * The transaction, the leader's one call per group commit, does not go through etcd3: it is a gRPC
 * call written directly on `node:http2` (grpc-unary.ts, one session per endpoint) with a hand-encoded
 * `TxnRequest` (etcd-txn-codec.ts), because grpc-js's per-call machinery cost the leader more CPU
 * than everything else it does for the operations in a transaction. The same rules apply to it.
 */
export class EtcdClient {
  readonly #connections: Connection[];
  readonly #requestTimeoutMs: number;
  readonly #writeTimeoutMs: number;
  readonly #onEndpointChange: EtcdClientOptions["onEndpointChange"];
  #current = 0;
  #closed = false;
  #followingRaftLeader: Promise<void> | undefined;

  constructor(endpoints: readonly string[], options: EtcdClientOptions = {}) {
    if (endpoints.length === 0) throw new Error("no etcd endpoints given: pass at least one URL such as http://127.0.0.1:2379");
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 3_000;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? this.#requestTimeoutMs;
    this.#onEndpointChange = options.onEndpointChange;
    const timeout = this.#requestTimeoutMs;
    this.#connections = endpoints.map((endpoint) => ({
      endpoint,
      txnChannel: new UnaryChannel(endpoint, { maxAnswerBytes: MAX_ANSWER_BYTES }),
      etcd: new Etcd3({
        hosts: endpoint,
        dialTimeout: timeout,
        // Pages of log entries and snapshot chunks (up to 1.5 MiB each, etcd's request limit) exceed
        // grpc's default 4 MiB per answer; callers page by count so that this bound holds.
        grpcOptions: { "grpc.max_receive_message_length": MAX_ANSWER_BYTES },
        faultHandling: { host: () => noop, global: noop, watchBackoff: new ConstantBackoff(200).next() },
        // Streams (keepalive, watch) get their deadline per call; every unary call has one here.
        defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
      }),
    }));
  }

  /** The endpoint that calls go to now. */
  get endpoint(): string {
    return this.#connection().endpoint;
  }

  /**
   * One transaction: if every `compare` holds, `success` runs, else `failure`. The range reads among
   * the operations come back in `ranges`, in the order of the operations (undefined for the others).
   */
  async txn(compare: readonly Compare[], success: readonly TxnOp[], failure: readonly TxnOp[] = []): Promise<TxnResult> {
    const request = encodeTxnRequest(compare, success, failure);
    return this.#write(async ({ txnChannel }, call) => {
      const answer = await txnChannel.call(TXN_PATH, request, call.deadline - Date.now());
      try {
        return decodeTxnResponse(answer);
      } catch (error) {
        // etcd answered, so the transaction may well have been applied: an unknown outcome.
        throw new GrpcStatusError(Status.INTERNAL, `the answer could not be decoded: ${describe(error)}`);
      }
    });
  }

  /** One key, or undefined; `revision` is the store's revision at the read. */
  async get(key: string): Promise<{ kv: KeyValue | undefined; revision: number }> {
    const response = await this.#read(({ etcd }) => etcd.kv.range({ key: bytes(key) }));
    return { kv: response.kvs[0] && keyValue(response.kvs[0]), revision: Number(response.header.revision) };
  }

  /** Every key under `prefix`, in key order unless `byCreate` sorts by create revision. */
  async getPrefix(prefix: string, options: RangeOptions = {}): Promise<{ kvs: KeyValue[]; revision: number }> {
    const response = await this.#read(({ etcd }) =>
      etcd.kv.range({
        key: options.after === undefined ? bytes(prefix) : Buffer.concat([bytes(options.after), Buffer.from([0])]),
        range_end: prefixEnd(prefix),
        limit: options.limit ?? 0,
        revision: options.atRevision ?? 0,
        max_create_revision: options.maxCreateRevision ?? 0,
        keys_only: options.keysOnly ?? false,
        ...(options.byCreate ? { sort_target: "Create" as const, sort_order: options.byCreate === "ascend" ? ("Ascend" as const) : ("Descend" as const) } : {}),
      }),
    );
    return { kvs: response.kvs.map(keyValue), revision: Number(response.header.revision) };
  }

  async put(key: string, value: Uint8Array, lease?: string): Promise<number> {
    const response = await this.#write(({ etcd }, call) => etcd.kv.put({ key: bytes(key), value: Buffer.from(value), lease: lease ?? 0 }, call));
    return Number(response.header.revision);
  }

  /** Deletes every key under `prefix`; returns how many. */
  async deletePrefix(prefix: string): Promise<number> {
    const response = await this.#write(({ etcd }, call) => etcd.kv.deleteRange({ key: bytes(prefix), range_end: prefixEnd(prefix) }, call));
    return Number(response.deleted);
  }

  /** A lease of `ttlSeconds` (etcd may raise it to its minimum); its id is an int64 in decimal. */
  async grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    const response = await this.#write(({ etcd }, call) => etcd.leaseClient.leaseGrant({ TTL: ttlSeconds }, call));
    return { id: response.ID, ttlSeconds: Number(response.TTL) };
  }

  /**
   * One keepalive: the TTL in seconds that the lease has again from when etcd's leader handled it, or
   * 0 if the lease no longer exists (expired or revoked). Safe to repeat, so tried on every endpoint,
   * each within `timeoutMs`: a leader passes a fraction of its TTL, so that a member that hangs (paused,
   * or cut off from its peers) costs it one short wait, not its lease.
   */
  async keepAliveOnce(id: string, timeoutMs = this.#requestTimeoutMs): Promise<number> {
    return this.#read(async ({ etcd }) => {
      const stream = await etcd.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
      try {
        return await new Promise<number>((resolve, reject) => {
          stream.on("data", (response) => resolve(Math.max(0, Number(response.TTL))));
          stream.on("error", reject);
          stream.on("end", () => reject(new Error("the keepalive stream ended without an answer")));
          stream.write({ ID: id });
        });
      } finally {
        stream.end();
      }
    });
  }

  /** Ends a lease now, deleting its keys. A lease already gone is not an error. */
  async revokeLease(id: string): Promise<void> {
    try {
      await this.#write(({ etcd }, call) => etcd.leaseClient.leaseRevoke({ ID: id }, call));
    } catch (error) {
      if (!/requested lease not found/.test(describe(error))) throw error;
    }
  }

  /** Drops etcd's history of every revision before `revision` (the space is reused; see defragmentation in the README). */
  async compact(revision: number): Promise<void> {
    await this.#write(({ etcd }, call) => etcd.kv.compact({ revision, physical: false }, call));
  }

  /** Each member's status; a member that does not answer is reported with its error. */
  async status(): Promise<MemberStatus[]> {
    return Promise.all(
      this.#connections.map(async ({ endpoint, etcd }): Promise<MemberStatus> => {
        try {
          const response = await etcd.maintenance.status();
          return {
            endpoint,
            ok: true,
            dbSize: Number(response.dbSize),
            dbSizeInUse: Number((response as { dbSizeInUse?: string }).dbSizeInUse ?? response.dbSize),
            revision: Number(response.header.revision),
            isLeader: response.leader === response.header.member_id,
          };
        } catch (error) {
          return { endpoint, ok: false, error: describe(error) };
        }
      }),
    );
  }

  /**
   * Moves calls to etcd's raft leader, if exactly one member that answers says it leads and calls go
   * elsewhere now: a transaction sent to a follower member is forwarded by it to the leader (its
   * whole request again over the peer link), and answered only once that follower has learned of the
   * commit and applied it too. Measured on the benchmark's 3 members, one 4 KB transaction of the
   * leader's shape at a time, 6 alternating passes (BENCHMARKS.md, "Cluster rows: etcd's work per
   * request (round 11)"): etcd's CPU per commit 1,640 µs at the raft leader against 1,821 through a
   * follower (medians; lower in 5 of 6), p50 1.71 against 1.79 ms; in the lock-pair row the members
   * sent each other 8.9 KB a commit instead of 13.2. Any member serves every call correctly, so this
   * is only where calls go first: a failed call still moves them to the next member, and a member
   * that does not answer here is not chosen. One check at a time; resolves when done.
   */
  async followRaftLeader(): Promise<void> {
    this.#followingRaftLeader ??= (async () => {
      const leaders = (await this.status()).filter((status) => status.ok && status.isLeader);
      const index = leaders.length === 1 ? this.#connections.findIndex((connection) => connection.endpoint === leaders[0]?.endpoint) : -1;
      if (index >= 0 && !this.#closed) this.#moveTo(index, "it is etcd's raft leader", "raft-leader");
    })().finally(() => (this.#followingRaftLeader = undefined));
    return this.#followingRaftLeader;
  }

  /**
   * Resolves when `key` is deleted at or after `revision`, or when the watch fails or `maxWaitMs`
   * passes: a hint to read again, never proof of the deletion (the caller re-reads, on whatever
   * endpoint then answers, so a dead member cannot keep it waiting).
   */
  async waitForDelete(key: string, revision: number, maxWaitMs: number): Promise<void> {
    const { etcd } = this.#connection();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const watcher = await Promise.race([
      etcd.watch().key(key).startRevision(String(revision)).create(),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), maxWaitMs))),
    ]).catch(() => undefined);
    if (!watcher) {
      this.#rotate(`a watch was not set up within ${maxWaitMs} ms`);
      return;
    }
    try {
      await new Promise<void>((resolve) => {
        clearTimeout(timer);
        timer = setTimeout(resolve, maxWaitMs);
        watcher.on("delete", () => resolve());
        watcher.on("disconnected", () => resolve());
        watcher.on("error", () => resolve());
      });
    } finally {
      clearTimeout(timer);
      // Not awaited: etcd3 waits for etcd to confirm the cancel, and etcd never does for a watch it
      // cancelled itself (its start revision compacted away by a snapshot, frequent under traffic):
      // a candidate's campaign waited here for good, its key at the head of the election kept alive,
      // and nobody led (the failover bench's "no grant within 30 s" after heavy traffic).
      void watcher.cancel().catch(() => undefined);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const { etcd, txnChannel } of this.#connections) {
      etcd.close();
      txnChannel.close();
    }
  }

  #connection(): Connection {
    return this.#connections[this.#current % this.#connections.length] as Connection;
  }

  #rotate(reason: string): void {
    this.#moveTo((this.#current + 1) % this.#connections.length, reason, "failed");
  }

  #moveTo(index: number, reason: string, why: EndpointChange["why"]): void {
    const from = this.#connection().endpoint;
    this.#current = index;
    const to = this.#connection().endpoint;
    if (to !== from) this.#onEndpointChange?.({ from, to, reason, why });
  }

  /** A call safe to repeat: tried on each endpoint in turn, starting at the current one. */
  async #read<T>(call: (connection: Connection) => Promise<T>): Promise<T> {
    let last: unknown;
    for (let attempt = 0; attempt < this.#connections.length; attempt++) {
      const connection = this.#connection();
      try {
        return await call(connection);
      } catch (error) {
        last = error;
        this.#rotate(describe(error));
      }
    }
    throw new EtcdRequestError(`etcd did not answer on any of ${this.#connections.map((entry) => entry.endpoint).join(", ")}: ${describe(last)}`, false, last);
  }

  /** A call not safe to repeat: one attempt, within the write timeout; a failure that may have been applied says so. */
  async #write<T>(call: (connection: Connection, options: { deadline: number }) => Promise<T>): Promise<T> {
    const connection = this.#connection();
    try {
      return await call(connection, { deadline: Date.now() + this.#writeTimeoutMs });
    } catch (error) {
      const unreachable = (error instanceof GrpcStatusError ? error.transient : isRecoverableError(error as Error)) || /deadline|unavailable|connect/i.test(describe(error));
      if (unreachable) this.#rotate(describe(error));
      throw new EtcdRequestError(`etcd request to ${connection.endpoint} failed: ${describe(error)}`, unreachable, error);
    }
  }
}

/**
 * An etcd member: etcd3's client for every call but the transaction, which goes over `txnChannel`
 * (gRPC on `node:http2`, encoded by hand): the leader's hot path, one per group commit.
 */
interface Connection {
  endpoint: string;
  etcd: Etcd3;
  txnChannel: UnaryChannel;
}

const TXN_PATH = "/etcdserverpb.KV/Txn";

export type { Compare, CreateRevisionIs, KeyExists, KeyValue, TxnOp, TxnResult } from "./etcd-txn-codec.js";

/** The largest answer accepted from etcd. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export interface EtcdClientOptions {
  /** Deadline of each read and keepalive, in ms; default 3,000 (etcd itself gives up on a proposal after 5 s + 2 election timeouts). */
  requestTimeoutMs?: number;
  /**
   * Deadline of each write (transaction, put, delete, lease grant and revoke, compaction), in ms;
   * default `requestTimeoutMs`. A write to a member that hangs waits this long before the next
   * write goes to the next member: a gateway derives it from its election TTL (gateway.ts).
   */
  writeTimeoutMs?: number;
  /**
   * Told each time calls move to another endpoint, because the current one failed or to etcd's raft
   * leader: the gateway logs it, so that an operator (and a test that pauses the member in use) can tell which member a
   * gateway talks to.
   */
  onEndpointChange?: (change: EndpointChange) => void;
}

/** Calls moved from one endpoint to another: because a call to `from` failed, or to etcd's raft leader (`followRaftLeader`). */
export interface EndpointChange {
  from: string;
  to: string;
  reason: string;
  why: "failed" | "raft-leader";
}

export interface RangeOptions {
  limit?: number;
  /** Only keys created at or before this revision. */
  maxCreateRevision?: number;
  byCreate?: "ascend" | "descend";
  keysOnly?: boolean;
  /** Start after this key (for paging by `limit`). */
  after?: string;
  /** Read as of this store revision (a consistent view across pages; fails once compacted past it). */
  atRevision?: number;
}

export type MemberStatus =
  | { endpoint: string; ok: true; dbSize: number; dbSizeInUse: number; revision: number; isLeader: boolean }
  | { endpoint: string; ok: false; error: string };

/** An etcd request failed. `outcomeUnknown`: a write that may or may not have been applied. */
export class EtcdRequestError extends Error {
  constructor(
    message: string,
    readonly outcomeUnknown: boolean,
    cause: unknown,
  ) {
    super(message, { cause });
    this.name = "EtcdRequestError";
  }
}

function bytes(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

function keyValue(kv: IKeyValue): KeyValue {
  return { key: kv.key.toString("utf8"), value: kv.value, createRevision: Number(kv.create_revision), modRevision: Number(kv.mod_revision), lease: kv.lease };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
