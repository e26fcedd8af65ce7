import { ErrorCode, type LockMode, type Timer, type Value } from "@leasehold/protocol";
import { ServerError } from "../errors.js";
import type { Changes } from "./changes.js";
import type { Hold, Lease, LockDelay, LockEntry, LockKind, Session, Waiter } from "./model.js";
import { WaitQueue } from "./wait-queue.js";

/** What a lock table needs from the rest of the server. */
export interface LockTableHooks {
  /** The next fencing token: greater than every token and revision before it. */
  nextToken(): number;
  /** Checks the lease at the moment of a grant, ending it first if its deadline has passed. */
  isLive(lease: Lease): boolean;
  /** A queued waiter was granted: answer its request. */
  granted(hold: Hold, waiter: Waiter): void;
  /** The holders or the queue of an entry changed (an election's leader for observers; anything for the admin feed). */
  changed(entry: LockEntry): void;
  /** The server's clock, for when a hold was granted and a waiter queued (shown by the admin feed), and for lock-delays. */
  now(): number;
  /** Wall-clock ms, for the stored end of a lock-delay (so that a restarted server resumes it). */
  wallNow(): number;
  /** A timer on the server's clock, for the end of a lock-delay. */
  setTimer(ms: number, callback: () => void): Timer;
  /** A lost hold's lock-delay started (for the metrics). */
  delayStarted(entry: LockEntry): void;
  /** Where holds and waits are reported for storage. */
  readonly changes: Changes;
  /** A value (an election candidate's) is now kept, held or queued; and no longer kept. For the principal's byte count. */
  valueAdded(lease: Lease, value: Value): void;
  valueRemoved(lease: Lease, value: Value): void;
}

export interface AcquireRequest {
  lease: Lease;
  name: string;
  mode: LockMode;
  /** Semaphores only. */
  limit: number | undefined;
  request: number;
  value: Value | undefined;
  maxWaiters: number;
  /** Ms the lock stays ungrantable after this hold is lost rather than released; 0 for none. */
  lockDelay: number;
}

export type AcquireOutcome = { kind: "granted"; hold: Hold } | { kind: "busy" } | { kind: "queued"; waiter: Waiter };

/**
 * Exclusive and shared locks, semaphores and election seats of one namespace, with their FIFO queues.
 * Waiters are granted strictly in the order they queued, across modes, so that writers never starve
 * behind a stream of readers; a try never jumps the queue.
 */
export class LockTable {
  /** Every entry in use, and the free ones kept for reuse (`free`; see `#keepFree`). */
  readonly #entries = new Map<string, LockEntry>();
  /** How many of `#entries` are free. */
  #freeCount = 0;
  /** Next waiter's place, growing across restarts so that a restored queue keeps its order. */
  #nextSeq = 1;

  constructor(
    readonly kind: "lock" | "election",
    readonly hooks: LockTableHooks,
  ) {}

  /** The entry of a name with holders, waiters or a lock-delay running; undefined for any other. */
  get(name: string): LockEntry | undefined {
    const entry = this.#entries.get(name);
    return entry?.free === true ? undefined : entry;
  }

  /** The entries of the names with holders, waiters or a lock-delay running. */
  *entries(): IterableIterator<LockEntry> {
    for (const entry of this.#entries.values()) if (!entry.free) yield entry;
  }

  /** Names with holders, waiters or a lock-delay running. */
  get size(): number {
    return this.#entries.size - this.#freeCount;
  }

  /** Free entries kept for reuse (see `#keepFree`): at most `FREE_KEPT_MIN` or as many as in use. */
  get freeKept(): number {
    return this.#freeCount;
  }

  /** Grants at once if nothing is ahead; otherwise queues (`wait`) or reports busy. */
  acquire(request: AcquireRequest, wait: boolean): AcquireOutcome {
    const entry = this.#entryFor(request.name, request.limit, request.mode);
    if (entry.queue.size === 0 && this.#canGrant(entry, request.mode)) {
      return { kind: "granted", hold: this.#grant(entry, request.lease, request.mode, request.request, request.value, request.lockDelay) };
    }
    if (!wait) {
      this.#dropIfIdle(entry);
      return { kind: "busy" };
    }
    if (entry.queue.size >= request.maxWaiters) {
      throw new ServerError(ErrorCode.LIMIT_EXCEEDED, `"${request.name}" already has ${entry.queue.size} waiters, the most allowed`);
    }
    const waiter: Waiter = {
      entry,
      lease: request.lease,
      mode: request.mode,
      request: request.request,
      value: request.value,
      seq: this.#nextSeq++,
      since: this.hooks.now(),
      expiresAt: undefined,
      lockDelay: request.lockDelay,
      node: null,
      timer: null,
    };
    this.#enqueue(waiter);
    return { kind: "queued", waiter };
  }

  /**
   * Takes an exclusive lock from its holders and grants it at once, lock-delays or not (a steal is an
   * explicit decision); queued waiters keep their places. Returns the new hold and the holds taken
   * away (their owners are told by the caller).
   */
  steal(request: AcquireRequest): { hold: Hold; stolen: Hold[] } {
    const entry = this.#entryFor(request.name, undefined, "exclusive");
    if (entry.kind !== "lock") throw new ServerError(ErrorCode.MODE_MISMATCH, `"${request.name}" is a semaphore; only locks can be stolen`);
    const stolen = [...entry.holders.values()];
    // Without pumping the queue in between: the lock goes to the thief, not to the next waiter.
    for (const hold of stolen) this.#removeHold(hold, false);
    this.#endDelays(entry);
    return { hold: this.#grant(entry, request.lease, "exclusive", request.request, request.value, request.lockDelay), stolen };
  }

  /** Puts back a hold read from storage, with its original token. */
  restoreHold(name: string, limit: number | undefined, lease: Lease, token: number, mode: LockMode, request: number, value: Value | undefined, lockDelay: number): void {
    const entry = this.#entryFor(name, limit, mode);
    const hold: Hold = { entry, lease, token, mode, request, value, since: this.hooks.now(), lockDelay };
    entry.holders.set(token, hold);
    lease.addHold(hold);
    if (value !== undefined) this.hooks.valueAdded(lease, value);
  }

  /** Puts back a queued waiter read from storage; call in increasing `seq`. */
  restoreWaiter(
    name: string,
    limit: number | undefined,
    lease: Lease,
    mode: LockMode,
    request: number,
    value: Value | undefined,
    seq: number,
    expiresAt: number | undefined,
    lockDelay: number,
  ): Waiter {
    const entry = this.#entryFor(name, limit, mode);
    const waiter: Waiter = { entry, lease, mode, request, value, seq, since: this.hooks.now(), expiresAt, lockDelay, node: null, timer: null };
    this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
    this.#enqueue(waiter);
    return waiter;
  }

  #enqueue(waiter: Waiter): void {
    waiter.node = waiter.entry.queue.push(waiter);
    waiter.lease.addWait(waiter);
    waiter.lease.session.addWait(waiter);
    if (waiter.value !== undefined) this.hooks.valueAdded(waiter.lease, waiter.value);
    this.hooks.changes.wait(waiter);
    this.hooks.changed(waiter.entry);
  }

  /** Releases a hold of `session`'s by its token. False if it has no such hold (already released or lost, or another's). */
  release(name: string, token: number, session: Session): boolean {
    const entry = this.#entries.get(name);
    const hold = entry?.holders.get(token);
    if (!entry || hold?.lease.session !== session) return false;
    this.#removeHold(hold);
    this.pump(entry);
    return true;
  }

  /** Takes a queued waiter out of its queue (timeout, cancel) and lets the ones behind it move up. */
  withdraw(waiter: Waiter): void {
    this.#removeWaiter(waiter);
    this.pump(waiter.entry);
  }

  /**
   * Drops every hold and wait of an ending lease, returning the entries to pump afterwards. `lost`:
   * the lease expired or was revoked by an admin (not given up by its owner), so each hold's
   * lock-delay starts.
   */
  dropLease(lease: Lease, lost: boolean): LockEntry[] {
    const touched = new Set<LockEntry>();
    for (const hold of lease.holds) {
      if (!this.#owns(hold.entry)) continue;
      if (lost) this.#loseHold(hold);
      else this.#removeHold(hold);
      touched.add(hold.entry);
    }
    for (const waiter of lease.waits) {
      if (!this.#owns(waiter.entry)) continue;
      this.#removeWaiter(waiter);
      touched.add(waiter.entry);
    }
    return [...touched];
  }

  /** Takes a hold away without its owner asking (admin force-release); its lock-delay starts. */
  revoke(hold: Hold): void {
    this.#loseHold(hold);
    this.pump(hold.entry);
  }

  /**
   * Puts back a lock-delay read from storage (the row of the hold that left it), running for the time
   * left of it by the wall clock; one that ended while the server was down is dropped, with its row.
   */
  restoreDelay(name: string, limit: number | undefined, mode: LockMode, token: number, msLeft: number): void {
    const entry = this.#entryFor(name, limit, mode);
    const delay: LockDelay = { mode, until: this.hooks.now() + msLeft, token };
    if (msLeft <= 0) {
      this.hooks.changes.delayGone(entry, delay);
      this.#dropIfIdle(entry);
      return;
    }
    (entry.delays ??= []).push(delay);
    this.#armDelayTimer(entry);
  }

  /** Grants queued waiters from the front for as long as they fit. */
  pump(entry: LockEntry): void {
    for (;;) {
      const head = entry.queue.peek();
      if (!head) break;
      if (!this.hooks.isLive(head.lease)) {
        // Ending the lease took its waiters out of this queue (and pumped it); look again.
        if (head.node?.queued) this.#removeWaiter(head);
        continue;
      }
      if (!this.#canGrant(entry, head.mode)) break;
      this.#removeWaiter(head);
      const hold = this.#grant(entry, head.lease, head.mode, head.request, head.value, head.lockDelay);
      this.hooks.granted(hold, head);
    }
    this.#dropIfIdle(entry);
  }

  /** The lock-delays of an entry still running now (ended ones are dropped here, whether or not their timer has fired). */
  delaysOf(entry: LockEntry): readonly LockDelay[] {
    // Asked at every grant: no array made for the common case of none.
    if (!entry.delays) return NO_DELAYS;
    const now = this.hooks.now();
    const active: LockDelay[] = [];
    for (const delay of entry.delays) {
      if (delay.until > now) active.push(delay);
      else this.hooks.changes.delayGone(entry, delay);
    }
    entry.delays = active.length === 0 ? undefined : active;
    return active;
  }

  /** Stops every lock-delay timer (server shutdown). */
  stopTimers(): void {
    for (const entry of this.#entries.values()) entry.delayTimer?.cancel();
  }

  #grant(entry: LockEntry, lease: Lease, mode: LockMode, request: number, value: Value | undefined, lockDelay: number): Hold {
    const hold: Hold = { entry, lease, token: this.hooks.nextToken(), mode, request, value, since: this.hooks.now(), lockDelay };
    entry.holders.set(hold.token, hold);
    lease.addHold(hold);
    if (value !== undefined) this.hooks.valueAdded(lease, value);
    this.hooks.changes.hold(hold);
    this.hooks.changed(entry);
    return hold;
  }

  #removeHold(hold: Hold, dropIfIdle = true): void {
    if (!hold.entry.holders.delete(hold.token)) return;
    hold.lease.deleteHold(hold);
    if (hold.value !== undefined) this.hooks.valueRemoved(hold.lease, hold.value);
    this.hooks.changes.holdGone(hold);
    this.hooks.changed(hold.entry);
    if (dropIfIdle) this.#dropIfIdle(hold.entry);
  }

  #removeWaiter(waiter: Waiter): void {
    if (waiter.node?.queued) {
      waiter.entry.queue.remove(waiter.node);
      if (waiter.value !== undefined) this.hooks.valueRemoved(waiter.lease, waiter.value);
      this.hooks.changes.waitGone(waiter);
      this.hooks.changed(waiter.entry);
    }
    waiter.timer?.cancel();
    waiter.timer = null;
    waiter.lease.deleteWait(waiter);
    waiter.lease.session.deleteWait(waiter.request);
  }

  #entryFor(name: string, limit: number | undefined, mode: LockMode): LockEntry {
    const kind: LockKind = this.kind === "election" ? "election" : limit === undefined ? "lock" : "semaphore";
    // Checked before the name's kind, so that an existing semaphore refuses shared mode as a new one does.
    if (kind === "semaphore" && mode === "shared") {
      throw new ServerError(ErrorCode.MODE_MISMATCH, `semaphore "${name}" has no shared mode; omit mode`);
    }
    const existing = this.#entries.get(name);
    if (existing?.free === true) {
      this.#freeCount--;
      existing.free = false;
      // A free name may be taken up as anything, as a forgotten one could: one of another kind or limit starts afresh.
      if (existing.kind === kind && existing.limit === (limit ?? 1)) return existing;
      this.#entries.delete(name);
    } else if (existing) {
      if (existing.kind !== kind) {
        throw new ServerError(ErrorCode.MODE_MISMATCH, `"${name}" is a ${existing.kind}, not a ${kind}; use it the way it was created`);
      }
      if (kind === "semaphore" && existing.limit !== limit) {
        throw new ServerError(ErrorCode.LIMIT_MISMATCH, `semaphore "${name}" has limit ${existing.limit}, not ${limit}; every user must pass the same limit`);
      }
      return existing;
    }
    const entry: LockEntry = { name, kind, limit: limit ?? 1, holders: new Map(), queue: new WaitQueue(), delays: undefined, delayTimer: undefined, free: false };
    this.#entries.set(name, entry);
    return entry;
  }

  #owns(entry: LockEntry): boolean {
    return (entry.kind === "election") === (this.kind === "election");
  }

  /**
   * Takes away a hold its owner did not give up, starting its lock-delay: until the delay ends, the
   * hold counts as still there (see LockDelay), and the entry is kept even with no holder and no
   * waiter, so that a try in the meantime is refused. The delay starts before the hold goes, so that
   * the entry is not dropped as idle in between; its stored row stays, with the delay's wall-clock end.
   */
  #loseHold(hold: Hold): void {
    if (hold.lockDelay <= 0) {
      this.#removeHold(hold);
      return;
    }
    const entry = hold.entry;
    (entry.delays ??= []).push({ mode: hold.mode, until: this.hooks.now() + hold.lockDelay, token: hold.token });
    this.#armDelayTimer(entry);
    this.hooks.delayStarted(entry);
    this.#removeHold(hold);
    this.hooks.changes.holdDelayed(hold, this.hooks.wallNow() + hold.lockDelay);
  }

  #armDelayTimer(entry: LockEntry): void {
    entry.delayTimer?.cancel();
    entry.delayTimer = undefined;
    if (!entry.delays) return;
    // A loop, not Math.min(...): a semaphore may have more delays running than a call takes arguments.
    let next = Infinity;
    for (const delay of entry.delays) next = Math.min(next, delay.until);
    entry.delayTimer = this.hooks.setTimer(next - this.hooks.now(), () => {
      entry.delayTimer = undefined;
      this.delaysOf(entry);
      this.#armDelayTimer(entry);
      this.hooks.changed(entry);
      this.pump(entry);
    });
  }

  #endDelays(entry: LockEntry): void {
    for (const delay of entry.delays ?? []) this.hooks.changes.delayGone(entry, delay);
    entry.delays = undefined;
    this.#armDelayTimer(entry);
  }

  #canGrant(entry: LockEntry, mode: LockMode): boolean {
    const delays = this.delaysOf(entry);
    if (entry.kind === "semaphore") return entry.holders.size + delays.length < entry.limit;
    if (mode === "exclusive") return entry.holders.size === 0 && delays.length === 0;
    // An exclusive hold is always the only one, so the first holder tells the mode of all.
    const first = entry.holders.values().next();
    return (first.done === true || first.value.mode === "shared") && delays.every((delay) => delay.mode === "shared");
  }

  /** An entry with no holder, no waiter and no lock-delay running is free: kept for reuse, within a bound (`#keepFree`). */
  #dropIfIdle(entry: LockEntry): void {
    if (!entry.free && entry.holders.size === 0 && entry.queue.size === 0 && entry.delays === undefined && this.#entries.get(entry.name) === entry) {
      this.#keepFree(entry);
    }
  }

  /**
   * Keeps a free entry in the table, unseen by its readers (`get`, `entries`, `size`), for the next
   * acquire of its name: a lock pair on a free name made an entry, its holders' Map and its queue and
   * added them to the table, only for the release to take them out again. Free entries are bounded by
   * `FREE_KEPT_MIN` or the number in use, whichever is more; past that, all of them are forgotten at
   * once (a walk of the table, paid for by the releases that made them free), so that unused names
   * cost at most about as much memory as the ones in use. Measured: BENCHMARKS.md, "The server's
   * JavaScript per request (round 11)".
   */
  #keepFree(entry: LockEntry): void {
    entry.free = true;
    this.#freeCount++;
    if (this.#freeCount <= Math.max(FREE_KEPT_MIN, this.#entries.size - this.#freeCount)) return;
    for (const [name, kept] of this.#entries) if (kept.free) this.#entries.delete(name);
    this.#freeCount = 0;
  }
}

/** Free entries kept for reuse whatever the number in use (see `#keepFree`). */
export const FREE_KEPT_MIN = 1_024;

const NO_DELAYS: readonly LockDelay[] = Object.freeze([]);
