import type { LockMode, Value } from "@leasehold/protocol";

/**
 * Durable storage behind one narrow interface: load everything at start, then write batches of row
 * changes, each batch all-or-nothing and durable when `write` returns (or its promise resolves). The
 * rules of leases and locks stay in the coordinator; a store only keeps rows, so that another backend
 * (etcd, a replicated log) can implement this without touching them.
 *
 * SQLite answers at once; a networked store (etcd) returns promises. The commit pipeline keeps up to
 * `writesInFlight` batches in flight and holds every reply behind its batch and every batch before it
 * either way (persistence/commit.ts).
 */
export interface Storage {
  /** False for the in-memory store: nothing is written, and replies need not wait for a commit. */
  readonly durable: boolean;
  /** Everything stored, as of the last completed batch. */
  load(): StoredState | Promise<StoredState>;
  /**
   * How many writes may be unsettled at once (default 1). A store that allows more keeps them in
   * call order whatever order their round trips end in: a batch is never stored without every batch
   * written before it, and its promise resolves only after theirs.
   */
  readonly writesInFlight?: number;
  /**
   * With one write in flight: after a write settles, the next batch waits (briefly) for the clients
   * its replies went to, so that they share one round trip (persistence/commit.ts, "gathering").
   * For a store whose write is a network round trip (etcd); SQLite answers at once and never waits.
   */
  readonly gatherAnsweredClients?: boolean;
  /**
   * Applies a batch atomically; throws (or rejects) if it could not be made durable (then nothing of
   * it is applied). Never called while `writesInFlight` earlier calls' promises are unsettled.
   */
  write(batch: Batch): void | Promise<void>;
  /** Bytes the store takes on disk, for the metrics; absent for a store without one. */
  sizeBytes?(): number | undefined;
  /** Resolves once the last write has settled. */
  close(): void | Promise<void>;
}

export interface SessionRow {
  id: string;
  secret: string;
  /** Wall-clock ms. */
  createdAt: number;
  agent: string | undefined;
  /** Highest request id received whose effects are in the same or an earlier batch. */
  lastRequest: number;
  /** Who opened it (`via:name`); undefined for sessions stored before schema version 2. */
  principal: string | undefined;
  /** The key of the account it counts against; undefined before schema version 2. */
  account: string | undefined;
}

export interface LeaseRow {
  id: number;
  session: string;
  ttl: number;
  keepAlive: boolean;
}

export type TableKind = "lock" | "election";

export interface HoldRow {
  table: TableKind;
  name: string;
  /** For semaphores; undefined for locks and elections. */
  limit: number | undefined;
  token: number;
  lease: number;
  mode: LockMode;
  request: number;
  value: Value | undefined;
  /** Ms the lock stays ungrantable after this hold is lost (expired, revoked by an admin); 0 for none. 0 before schema version 3. */
  lockDelay: number;
  /**
   * Set once the hold is lost with a lock-delay: the wall-clock ms when the delay ends. The row then
   * stands for the running delay, not a hold (its lease is gone), and is deleted when the delay ends
   * or a steal clears it. Undefined for a hold still held, and before schema version 4.
   */
  delayUntil: number | undefined;
}

export interface WaitRow {
  table: TableKind;
  name: string;
  limit: number | undefined;
  session: string;
  request: number;
  lease: number;
  mode: LockMode;
  value: Value | undefined;
  /** Queue order: waiters of one name are restored in increasing `seq`. */
  seq: number;
  /** Wall-clock ms when a finite wait gives up; undefined for `wait: true`. */
  expiresAt: number | undefined;
  /** The lock-delay its hold will have; 0 for none. 0 before schema version 3. */
  lockDelay: number;
}

export interface KeyRow {
  key: string;
  value: Value;
  revision: number;
  lease: number | undefined;
  /** The account of its last writer, whose quotas it counts against; undefined before schema version 2. */
  owner: string | undefined;
}

export interface CounterRow {
  name: string;
  value: number;
  /** The account that made it non-zero; undefined before schema version 2. */
  owner: string | undefined;
}

export interface StoredState {
  revision: number;
  nextLeaseId: number;
  sessions: SessionRow[];
  leases: LeaseRow[];
  holds: HoldRow[];
  waits: WaitRow[];
  keys: KeyRow[];
  counters: CounterRow[];
}

/** Row changes since the last batch: the latest version of each row, or null for a deleted one. */
export interface Batch {
  revision: number;
  nextLeaseId: number;
  sessions: Map<string, SessionRow | null>;
  leases: Map<number, LeaseRow | null>;
  /** By `${table}:${token}`. */
  holds: Map<string, HoldRow | null>;
  /** By `${session}:${request}`. */
  waits: Map<string, WaitRow | null>;
  keys: Map<string, KeyRow | null>;
  counters: Map<string, CounterRow | null>;
}

/** A batch with no changes yet. */
export function emptyBatch(): Batch {
  return { revision: 0, nextLeaseId: 0, sessions: new Map(), leases: new Map(), holds: new Map(), waits: new Map(), keys: new Map(), counters: new Map() };
}

export function emptyState(): StoredState {
  return { revision: 0, nextLeaseId: 1, sessions: [], leases: [], holds: [], waits: [], keys: [], counters: [] };
}

/** A store that never committed anything (a new data directory or etcd prefix). */
export function isEmptyState(state: StoredState): boolean {
  const { sessions, leases, holds, waits, keys, counters } = state;
  return state.revision === 0 && [sessions, leases, holds, waits, keys, counters].every((rows) => rows.length === 0);
}

/** What a state holds, for people: "2 sessions, 3 leases, 1 held, 1 lock-delay, 0 waiting, 5 keys, 1 counter". */
export function describeState(state: StoredState): string {
  const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  // The rows of lost holds whose lock-delay still runs are not held; named only when there are any.
  const delays = state.holds.filter((row) => row.delayUntil !== undefined).length;
  return [
    count(state.sessions.length, "session"),
    count(state.leases.length, "lease"),
    `${state.holds.length - delays} held`,
    ...(delays === 0 ? [] : [count(delays, "lock-delay")]),
    `${state.waits.length} waiting`,
    count(state.keys.length, "key"),
    count(state.counters.length, "counter"),
  ].join(", ");
}

/** Storage for `dataDir: null`: nothing survives a restart, and nothing waits for a disk. */
export class MemoryStorage implements Storage {
  readonly durable = false;

  load(): StoredState {
    return emptyState();
  }

  write(): void {}

  close(): void {}
}

/** A refusal to start on a data directory, with what to do about it. */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageError";
  }
}

/**
 * The store refuses this server's writes because another server took over the same data (a new
 * cluster leader): nothing is wrong with the data, so clients are told to reconnect and resume
 * (close 1012) rather than that the server failed (1011).
 */
export class HandedOverError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HandedOverError";
  }
}
