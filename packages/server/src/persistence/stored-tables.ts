import { decode, encode, type Value } from "@leasehold/protocol";
import type { Batch, CounterRow, HoldRow, KeyRow, LeaseRow, SessionRow, StoredState, WaitRow } from "./storage.js";

/**
 * Stored rows held in memory and changed by batches exactly as SqliteStorage's write changes its
 * tables, so that a store that keeps a log of batches (etcd) loads what SQLite would. Keyed as the
 * batch is: holds by `${table}:${token}`, waits by `${session}:${request}`.
 */
export class StoredTables {
  revision = 0;
  nextLeaseId = 1;
  readonly sessions = new Map<string, SessionRow>();
  readonly leases = new Map<number, LeaseRow>();
  readonly holds = new Map<string, HoldRow>();
  readonly waits = new Map<string, WaitRow>();
  readonly keys = new Map<string, KeyRow>();
  readonly counters = new Map<string, CounterRow>();

  static from(state: StoredState): StoredTables {
    const tables = new StoredTables();
    tables.revision = state.revision;
    tables.nextLeaseId = state.nextLeaseId;
    for (const row of state.sessions) tables.sessions.set(row.id, row);
    for (const row of state.leases) tables.leases.set(row.id, row);
    for (const row of state.holds) tables.holds.set(`${row.table}:${row.token}`, row);
    for (const row of state.waits) tables.waits.set(`${row.session}:${row.request}`, row);
    for (const row of state.keys) tables.keys.set(row.key, row);
    for (const row of state.counters) tables.counters.set(row.name, row);
    return tables;
  }

  apply(batch: Batch): void {
    this.revision = batch.revision;
    this.nextLeaseId = batch.nextLeaseId;
    for (const [id, row] of batch.sessions) {
      const stored = this.sessions.get(id);
      // As SQLite's upsert: a session row is written whole once; later batches change only lastRequest.
      if (row === null) this.sessions.delete(id);
      else this.sessions.set(id, stored ? { ...stored, lastRequest: row.lastRequest } : row);
    }
    applyRows(this.leases, batch.leases);
    applyRows(this.holds, batch.holds);
    applyRows(this.waits, batch.waits);
    applyRows(this.keys, batch.keys);
    applyRows(this.counters, batch.counters);
  }

  /** In the order SqliteStorage.load gives: leases by id, holds by token, waits by queue order. */
  state(): StoredState {
    return {
      revision: this.revision,
      nextLeaseId: this.nextLeaseId,
      sessions: [...this.sessions.values()],
      leases: [...this.leases.values()].sort((a, b) => a.id - b.id),
      holds: [...this.holds.values()].sort((a, b) => a.token - b.token),
      waits: [...this.waits.values()].sort((a, b) => a.seq - b.seq),
      keys: [...this.keys.values()],
      counters: [...this.counters.values()],
    };
  }
}

/** A batch as bytes (msgpack; the maps as lists of [id, row or null]). */
export function encodeBatch(batch: Batch): Uint8Array {
  return encode({
    revision: batch.revision,
    nextLeaseId: batch.nextLeaseId,
    sessions: [...batch.sessions],
    leases: [...batch.leases],
    holds: [...batch.holds],
    waits: [...batch.waits],
    keys: [...batch.keys],
    counters: [...batch.counters],
  });
}

export function decodeBatch(bytes: Uint8Array): Batch {
  const raw = decode(bytes) as EncodedBatch;
  return {
    revision: raw.revision,
    nextLeaseId: raw.nextLeaseId,
    sessions: new Map(raw.sessions.map(([id, row]) => [id, row && sessionRow(row)])),
    leases: new Map(raw.leases.map(([id, row]) => [id, row && leaseRow(row)])),
    holds: new Map(raw.holds.map(([id, row]) => [id, row && holdRow(row)])),
    waits: new Map(raw.waits.map(([id, row]) => [id, row && waitRow(row)])),
    keys: new Map(raw.keys.map(([id, row]) => [id, row && keyRow(row)])),
    counters: new Map(raw.counters.map(([id, row]) => [id, row && counterRow(row)])),
  };
}

export function encodeState(state: StoredState): Uint8Array {
  return encode(state);
}

export function decodeState(bytes: Uint8Array): StoredState {
  const raw = decode(bytes) as StoredState;
  return {
    revision: raw.revision,
    nextLeaseId: raw.nextLeaseId,
    sessions: raw.sessions.map(sessionRow),
    leases: raw.leases.map(leaseRow),
    holds: raw.holds.map(holdRow),
    waits: raw.waits.map(waitRow),
    keys: raw.keys.map(keyRow),
    counters: raw.counters.map(counterRow),
  };
}

type Entries<K, V> = [K, V | null][];
interface EncodedBatch {
  revision: number;
  nextLeaseId: number;
  sessions: Entries<string, SessionRow>;
  leases: Entries<number, LeaseRow>;
  holds: Entries<string, HoldRow>;
  waits: Entries<string, WaitRow>;
  keys: Entries<string, KeyRow>;
  counters: Entries<string, CounterRow>;
}

function applyRows<K, V>(table: Map<K, V>, changes: Map<K, V | null>): void {
  for (const [id, row] of changes) {
    if (row === null) table.delete(id);
    else table.set(id, row);
  }
}

// msgpack leaves out properties that are undefined; these put every field back, as SQLite's load has
// them, so that both stores load equal rows.

function sessionRow(row: SessionRow): SessionRow {
  return {
    id: row.id,
    secret: row.secret,
    createdAt: row.createdAt,
    agent: row.agent ?? undefined,
    lastRequest: row.lastRequest,
    principal: row.principal ?? undefined,
    account: row.account ?? undefined,
  };
}

function leaseRow(row: LeaseRow): LeaseRow {
  return { id: row.id, session: row.session, ttl: row.ttl, keepAlive: row.keepAlive };
}

function holdRow(row: HoldRow): HoldRow {
  return {
    table: row.table,
    name: row.name,
    limit: row.limit ?? undefined,
    token: row.token,
    lease: row.lease,
    mode: row.mode,
    request: row.request,
    value: optionalValue(row, "value"),
    lockDelay: row.lockDelay ?? 0,
    delayUntil: row.delayUntil ?? undefined,
  };
}

function waitRow(row: WaitRow): WaitRow {
  return {
    table: row.table,
    name: row.name,
    limit: row.limit ?? undefined,
    session: row.session,
    request: row.request,
    lease: row.lease,
    mode: row.mode,
    value: optionalValue(row, "value"),
    lockDelay: row.lockDelay ?? 0,
    seq: row.seq,
    expiresAt: row.expiresAt ?? undefined,
  };
}

function keyRow(row: KeyRow): KeyRow {
  return { key: row.key, value: row.value, revision: row.revision, lease: row.lease ?? undefined, owner: row.owner ?? undefined };
}

function counterRow(row: CounterRow): CounterRow {
  return { name: row.name, value: row.value, owner: row.owner ?? undefined };
}

/** A stored value of `null` is the value null; an absent one is undefined. */
function optionalValue(row: { value: Value | undefined }, field: "value"): Value | undefined {
  return field in row ? row[field] : undefined;
}
