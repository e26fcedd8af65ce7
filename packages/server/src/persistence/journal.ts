import type { Account } from "../core/accounts.js";
import type { Changes } from "../core/changes.js";
import type { KvEntry } from "../core/shared/kv-store.js";
import type { Hold, Lease, LockDelay, LockEntry, Session, Waiter } from "../core/model.js";
import { emptyBatch, type Batch, type HoldRow, type SessionRow, type TableKind, type WaitRow } from "./storage.js";

/**
 * Collects the rows that changed since the last commit, in the shape storage keeps them: the latest
 * version of each row, or null once it is gone. The coordinator, lock tables and shared state report
 * every change here (through core's Changes interface); with in-memory storage the journal is off and
 * each call returns at once.
 */
export class Journal implements Changes {
  #batch: Batch | undefined;
  /** Sessions that sent requests since the last commit: their `lastRequest` goes into the next batch. */
  readonly #requesters = new Set<Session>();

  constructor(
    readonly enabled: boolean,
    /** Called on the first change after a commit, to schedule the next one. */
    readonly onDirty: () => void,
  ) {}

  session(session: Session): void {
    this.#rows()?.sessions.set(session.id, sessionRow(session));
  }

  sessionGone(session: Session): void {
    this.#requesters.delete(session);
    this.#rows()?.sessions.set(session.id, null);
  }

  /** A request arrived; its id is stored with the next batch that has changes (a read alone writes nothing). */
  requested(session: Session): void {
    if (this.enabled) this.#requesters.add(session);
  }

  lease(lease: Lease): void {
    this.#rows()?.leases.set(lease.id, { id: lease.id, session: lease.session.id, ttl: lease.ttl, keepAlive: lease.keepAlive });
  }

  leaseGone(lease: Lease): void {
    this.#rows()?.leases.set(lease.id, null);
  }

  hold(hold: Hold): void {
    this.#rows()?.holds.set(holdKey(hold), holdRow(hold));
  }

  holdGone(hold: Hold): void {
    this.#rows()?.holds.set(holdKey(hold), null);
  }

  holdDelayed(hold: Hold, wallUntil: number): void {
    this.#rows()?.holds.set(holdKey(hold), { ...holdRow(hold), delayUntil: wallUntil });
  }

  delayGone(entry: LockEntry, delay: LockDelay): void {
    this.#rows()?.holds.set(`${tableOf(entry.kind)}:${delay.token}`, null);
  }

  wait(waiter: Waiter): void {
    this.#rows()?.waits.set(waitKey(waiter), waitRow(waiter));
  }

  waitGone(waiter: Waiter): void {
    this.#rows()?.waits.set(waitKey(waiter), null);
  }

  key(key: string, entry: KvEntry | undefined): void {
    this.#rows()?.keys.set(key, entry ? { key, value: entry.value, revision: entry.revision, lease: entry.lease?.id, owner: entry.owner.key } : null);
  }

  counter(name: string, value: number, owner: Account): void {
    this.#rows()?.counters.set(name, value === 0 ? null : { name, value, owner: owner.key });
  }

  /** Something changed since the last `take`. */
  get dirty(): boolean {
    return this.#batch !== undefined;
  }

  /** The batch to commit, or undefined when nothing changed. */
  take(revision: number, nextLeaseId: number): Batch | undefined {
    const batch = this.#batch;
    this.#batch = undefined;
    if (batch) {
      for (const session of this.#requesters) {
        if (!session.ended) batch.sessions.set(session.id, sessionRow(session));
      }
      batch.revision = revision;
      batch.nextLeaseId = nextLeaseId;
    }
    this.#requesters.clear();
    return batch;
  }

  #rows(): Batch | undefined {
    if (!this.enabled) return undefined;
    if (!this.#batch) {
      this.#batch = emptyBatch();
      this.onDirty();
    }
    return this.#batch;
  }
}

function sessionRow(session: Session): SessionRow {
  return {
    id: session.id,
    secret: session.secret,
    createdAt: session.createdWallClock,
    agent: session.agent,
    lastRequest: session.lastRequest,
    principal: session.principal,
    account: session.account.key,
  };
}

function tableOf(kind: string): TableKind {
  return kind === "election" ? "election" : "lock";
}

function holdKey(hold: Hold): string {
  return `${tableOf(hold.entry.kind)}:${hold.token}`;
}

function waitKey(waiter: Waiter): string {
  return `${waiter.lease.session.id}:${waiter.request}`;
}

function holdRow(hold: Hold): HoldRow {
  return {
    table: tableOf(hold.entry.kind),
    name: hold.entry.name,
    limit: hold.entry.kind === "semaphore" ? hold.entry.limit : undefined,
    token: hold.token,
    lease: hold.lease.id,
    mode: hold.mode,
    request: hold.request,
    value: hold.value,
    lockDelay: hold.lockDelay,
    delayUntil: undefined,
  };
}

function waitRow(waiter: Waiter): WaitRow {
  return {
    table: tableOf(waiter.entry.kind),
    name: waiter.entry.name,
    limit: waiter.entry.kind === "semaphore" ? waiter.entry.limit : undefined,
    session: waiter.lease.session.id,
    request: waiter.request,
    lease: waiter.lease.id,
    mode: waiter.mode,
    value: waiter.value,
    seq: waiter.seq,
    expiresAt: waiter.expiresAt,
    lockDelay: waiter.lockDelay,
  };
}
