import { randomBytes, timingSafeEqual } from "node:crypto";
import { CloseCode, ErrorCode, heartbeatInterval, heartbeatIntervalOfShortest, type LockMode, type ResultOf, type Resync, type Value } from "@leasehold/protocol";
import { Accounts, principalDefaults, valueBytes, type SessionOwner } from "./accounts.js";
import { AdminFeed, OPEN_ACCESS, type AdminAccess } from "./admin-feed.js";
import { UNRECORDED, type Changes } from "./changes.js";
import { NO_EVENTS, type LeaseEndReason, type ServerEvents } from "./events.js";
import { Revisions } from "./fencing.js";
import { ServerError } from "../errors.js";
import { LockTable } from "./lock-table.js";
import type { Hold, LockEntry, Waiter } from "./model.js";
import { Lease, Session } from "./model.js";
import type { ResolvedOptions } from "../options.js";
import { SharedState } from "./shared/shared-state.js";
import { TimerQueue } from "./timer-queue.js";

export type { LeaseEndReason } from "./events.js";

/**
 * The rules of sessions, leases and locks, in one place and independent of sockets and storage.
 *
 * A lease's deadline is `lastHeard + ttl` for kept-alive leases (the session's liveness keeps them)
 * and `renewedAt + ttl` for the others. Deadlines are checked lazily: each session has one due time
 * in a shared timer queue, set to its earliest deadline; when it comes it expires what is due and
 * re-arms for the next. Hearing from a client only moves `lastHeard`, never a timer, so the hot
 * path costs nothing.
 */
export class Coordinator {
  readonly sessions = new Map<string, Session>();
  readonly leases = new Map<number, Lease>();
  readonly locks: LockTable;
  readonly elections: LockTable;
  /** Keys, counters, watches and election observers. */
  readonly shared: SharedState;
  /** What each principal holds, against its quotas. */
  readonly accounts: Accounts;
  /** Subscribers to the admin feed (the dashboard), told of every change of sessions, leases and lock entries. */
  readonly adminFeed: AdminFeed;
  /** Token issue: revisions and fencing tokens from one counter (see fencing.ts). */
  readonly #revisions = new Revisions();
  #nextLeaseId = 1;
  /** Every session's next deadline check, on one timer rather than a timer per session (see TimerQueue). */
  readonly #deadlines: TimerQueue<Session>;

  /** Where changes are reported for storage (the persistence layer's journal); nowhere unless the server passes one. */
  readonly changes: Changes;
  /** Who may go on reading the admin feed (the auth guard); everyone unless the server passes it. */
  readonly access: AdminAccess;
  /** Where grants, waits, losses and lease ends are counted (the server's metrics); nowhere unless the server passes them. */
  readonly events: ServerEvents;

  constructor(
    readonly options: ResolvedOptions,
    seams: { changes?: Changes; access?: AdminAccess; events?: ServerEvents } = {},
  ) {
    this.changes = seams.changes ?? UNRECORDED;
    this.access = seams.access ?? OPEN_ACCESS;
    this.events = seams.events ?? NO_EVENTS;
    this.accounts = new Accounts(principalDefaults(options.limits), options.maxDataBytes);
    const hooks = {
      valueAdded: (lease: Lease, value: Value) => this.accounts.add(lease.session.account, "bytes", valueBytes(value)),
      valueRemoved: (lease: Lease, value: Value) => this.accounts.give(lease.session.account, "bytes", valueBytes(value)),
      nextToken: () => this.nextRevision(),
      isLive: (lease: Lease) => this.#checkLease(lease),
      granted: (hold: Hold, waiter: Waiter) => this.#grantedFromQueue(hold, waiter),
      changed: (entry: LockEntry) => {
        this.shared.changed(entry);
        this.adminFeed.changed(entry);
      },
      now: () => this.now,
      wallNow: () => this.options.clock.wallNow(),
      setTimer: (ms: number, callback: () => void) => this.options.clock.setTimer(ms, callback),
      delayStarted: (entry: LockEntry) => this.events.lockDelayStarted(entry.kind),
      changes: this.changes,
    };
    this.locks = new LockTable("lock", hooks);
    this.elections = new LockTable("election", hooks);
    this.shared = new SharedState(this);
    this.adminFeed = new AdminFeed(this);
    this.#deadlines = new TimerQueue(options.clock, (session) => this.#onDeadline(session));
  }

  get now(): number {
    return this.options.clock.now();
  }

  get revision(): number {
    return this.#revisions.current;
  }

  get nextLeaseId(): number {
    return this.#nextLeaseId;
  }

  /** One counter orders every change and every grant, so tokens only ever grow. */
  nextRevision(): number {
    return this.#revisions.next();
  }

  /**
   * After a restart (persistence/restore.ts puts the stored rows back first): revisions, tokens and
   * lease ids go on from where they were, and every restored session's deadline is armed and every
   * restored queue granted as far as it goes.
   */
  continueFrom(stored: { revision: number; nextLeaseId: number }): void {
    this.#revisions.continueFrom(stored.revision);
    this.#nextLeaseId = stored.nextLeaseId;
    this.shared.watches.history.startAfter(stored.revision);
  }

  /** Starts the rules on the restored state: deadlines armed, queues granted as far as they go. */
  startRestored(): void {
    for (const session of this.sessions.values()) this.#armDeadline(session);
    for (const table of [this.locks, this.elections]) for (const entry of [...table.entries()]) table.pump(entry);
  }

  /** The lock table a stored row names. */
  table(kind: string): LockTable {
    return kind === "election" ? this.elections : this.locks;
  }

  // Sessions

  /**
   * A new session for `owner` (auth/session-owner.ts says who that is). Refused with
   * LIMIT_EXCEEDED when the server is full (the last `adminReservedSessions` places are for admins
   * only) or the owner holds its most sessions, detached ones included.
   */
  openSession(address: string, agent: string | undefined, owner: SessionOwner): Session {
    const { maxSessions } = this.options.limits;
    const room = owner.admin ? maxSessions : maxSessions - this.adminReservedSessions;
    if (this.sessions.size >= room) {
      const reserved = owner.admin ? "" : ` (the last ${this.adminReservedSessions} of ${maxSessions} are reserved for admins)`;
      throw new ServerError(ErrorCode.LIMIT_EXCEEDED, `the server holds ${this.sessions.size} sessions, the most allowed${reserved}; retry later`);
    }
    const account = this.accounts.open(owner.account, owner.limits);
    this.accounts.take(account, "sessions");
    const clock = this.options.clock;
    const session = new Session(randomBytes(12).toString("base64url"), randomBytes(18).toString("base64url"), clock.now(), address, agent, account, owner.principal, clock.wallNow());
    this.sessions.set(session.id, session);
    this.changes.session(session);
    this.adminFeed.sessionChanged(session);
    this.#armDeadline(session);
    return session;
  }

  /** The session to resume, if the server still holds it and the secret matches. */
  findSession(id: string, secret: string): Session | undefined {
    const session = this.sessions.get(id);
    if (!session || session.ended) return undefined;
    const expected = Buffer.from(session.secret);
    const given = Buffer.from(secret);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    return session;
  }

  /** Anything at all from the client proves it is alive. */
  heard(session: Session): void {
    session.lastHeard = this.now;
  }

  /** A clean goodbye (or a server-side drop): every lease of the session ends at once. */
  endSession(session: Session, reason: LeaseEndReason): void {
    if (session.ended) return;
    session.ended = true;
    this.#deadlines.cancel(session);
    session.closeSubscriptions();
    for (const lease of [...session.leases.values()]) this.endLease(lease, reason);
    this.sessions.delete(session.id);
    this.accounts.give(session.account, "sessions");
    this.changes.sessionGone(session);
    this.adminFeed.sessionChanged(session);
  }

  /** The state a resuming client needs to settle what it missed. */
  resync(session: Session): Resync {
    const leases = [...session.leases.values()];
    return {
      lastRequest: session.lastRequest,
      leases: leases.map((lease) => ({ lease: lease.id, ttl: lease.ttl, keepAlive: lease.keepAlive })),
      holds: leases.flatMap((lease) =>
        [...lease.holds].map((hold) => ({ request: hold.request, name: hold.entry.name, lease: lease.id, token: hold.token })),
      ),
      waits: [...session.waits.values()].map((waiter) => ({ request: waiter.request, name: waiter.entry.name, lease: waiter.lease.id })),
    };
  }

  /** The session's heartbeat interval by the protocol's rule (`heartbeatInterval`), at most the configured interval and a third of the session grace. */
  heartbeatInterval(session: Session): number {
    return heartbeatIntervalOfShortest(this.#baseLongestMs(), shortestKeptAliveTtl(session));
  }

  /** The interval of a session without kept-alive leases, announced in `welcome` so that a client's silence rule survives its leases ending. */
  baseHeartbeatInterval(): number {
    return heartbeatInterval(this.#baseLongestMs(), []);
  }

  #baseLongestMs(): number {
    // A third of the grace too, so that a live client answering every ping is never dropped as silent.
    return Math.min(this.options.heartbeatMs, Math.floor(this.options.sessionGraceMs / 3));
  }

  // Leases

  grantLease(session: Session, ttl: number, keepAlive: boolean): Lease {
    const { minTtlMs, maxLeasesPerSession } = this.options.limits;
    const maxTtlMs = this.maxTtlMs(session);
    if (ttl < minTtlMs || ttl > maxTtlMs) {
      throw new ServerError(ErrorCode.OUT_OF_RANGE, `ttl must be between ${minTtlMs} and ${maxTtlMs} ms, got ${ttl}`);
    }
    if (session.leases.size >= maxLeasesPerSession) {
      throw new ServerError(ErrorCode.LIMIT_EXCEEDED, `this session holds ${session.leases.size} leases, the most allowed; revoke some first`);
    }
    this.accounts.take(session.account, "leases");
    const lease = new Lease(this.#nextLeaseId++, ttl, keepAlive, session, this.now);
    session.leases.set(lease.id, lease);
    this.leases.set(lease.id, lease);
    this.changes.lease(lease);
    this.adminFeed.leaseChanged(lease);
    this.#armDeadline(session);
    return lease;
  }

  /** The longest TTL the session may ask for: the server's, or its principal's cap if lower. */
  maxTtlMs(session: Session): number {
    return Math.min(this.options.limits.maxTtlMs, session.account.limits.maxTtlMs);
  }

  /** Sessions only admins may open: `adminReservedSessions`, at most a tenth of `maxSessions`. */
  get adminReservedSessions(): number {
    const { adminReservedSessions, maxSessions } = this.options.limits;
    return Math.min(adminReservedSessions, Math.floor(maxSessions / 10));
  }

  /** The caller's own live lease, or a coded error saying why not. */
  ownLease(session: Session, id: number): Lease {
    const lease = this.leases.get(id);
    if (!lease || !this.#checkLease(lease)) {
      throw new ServerError(ErrorCode.LEASE_NOT_FOUND, `lease ${id} does not exist or has ended; grant a new one`);
    }
    if (lease.session !== session) {
      throw new ServerError(ErrorCode.LEASE_NOT_OWNED, `lease ${id} belongs to another session`);
    }
    return lease;
  }

  /** True if the lease is alive now; a lease whose deadline has passed is ended on the spot. */
  isLive(lease: Lease): boolean {
    return this.#checkLease(lease);
  }

  renewLease(lease: Lease): void {
    lease.renewedAt = this.now;
    // A kept-alive lease's deadline moves with every message heard; only the others show theirs.
    if (!lease.keepAlive) this.adminFeed.leaseChanged(lease);
  }

  deadline(lease: Lease): number {
    return (lease.keepAlive ? lease.session.lastHeard : lease.renewedAt) + lease.ttl;
  }

  timeToLive(lease: Lease): ResultOf<"lease.ttl"> {
    return {
      ttl: lease.ttl,
      remaining: Math.max(0, Math.round(this.deadline(lease) - this.now)),
      keepAlive: lease.keepAlive,
      locks: [...lease.holds].filter((hold) => hold.entry.kind !== "election").map((hold) => hold.entry.name),
    };
  }

  /**
   * Ends a lease and everything bound to it. The owner is told first (`lease.ended`, unless it asked
   * for the end itself), and only then are its locks passed on to the next waiters.
   */
  endLease(lease: Lease, reason: LeaseEndReason): void {
    if (lease.ended) return;
    lease.ended = true;
    this.#reportEnd(lease, reason);
    this.leases.delete(lease.id);
    lease.session.leases.delete(lease.id);
    this.accounts.give(lease.session.account, "leases");
    this.changes.leaseGone(lease);
    this.adminFeed.leaseChanged(lease);
    if (reason !== "released") lease.session.send({ type: "lease.ended", lease: lease.id, reason });
    for (const waiter of lease.waits) {
      this.events.waitEnded(waiter.entry.kind, "lease_ended", this.now - waiter.since);
      lease.session.fail(waiter.request, ErrorCode.LEASE_NOT_FOUND, `lease ${lease.id} ended (${reason}) while waiting for "${waiter.entry.name}"`);
    }
    // Its keys go before its locks are passed on, so that the next holder never sees them.
    this.shared.dropLease(lease);
    // A lease lost (expired, revoked by an admin) rather than given up starts its holds' lock-delays.
    const lost = reason !== "released";
    const touched = [...this.locks.dropLease(lease, lost), ...this.elections.dropLease(lease, lost)];
    for (const entry of touched) this.table(entry.kind).pump(entry);
  }

  // Locks

  acquire(
    session: Session,
    table: LockTable,
    request: {
      id: number;
      name: string;
      lease: number;
      mode: LockMode;
      limit: number | undefined;
      wait: true | number;
      value: Value | undefined;
      steal?: boolean;
      /** Locks only: the hold's lock-delay; absent, the server's default (`lockDelayMs`). */
      lockDelay?: number;
    },
  ): Hold | "busy" | "queued" {
    const lease = this.ownLease(session, request.lease);
    const { maxWaitMs, maxWaitersPerLock, maxLocksPerSession } = this.options.limits;
    if (request.wait !== true && request.wait > maxWaitMs) {
      throw new ServerError(ErrorCode.OUT_OF_RANGE, `wait must be at most ${maxWaitMs} ms (or true to wait without limit), got ${request.wait}`);
    }
    const lockDelay = table === this.locks ? (request.lockDelay ?? this.options.lockDelayMs) : 0;
    if (lockDelay > maxWaitMs) throw new ServerError(ErrorCode.OUT_OF_RANGE, `lockDelay must be at most ${maxWaitMs} ms (the longest finite wait), got ${lockDelay}`);
    const held = session.waits.size + session.holdCount;
    if (held >= maxLocksPerSession) {
      throw new ServerError(ErrorCode.LIMIT_EXCEEDED, `this session holds or awaits ${held} locks, the most allowed`);
    }
    // A candidate's value is kept while it holds or awaits the seat: it counts against the principal's bytes.
    if (request.value !== undefined) this.accounts.check(session.account, "bytes", valueBytes(request.value));
    if (request.steal) {
      if (request.mode !== "exclusive" || request.limit !== undefined || request.wait !== 0) {
        throw new ServerError(ErrorCode.BAD_REQUEST, "steal takes an exclusive lock at once: it goes without mode shared, limit and wait");
      }
      const { hold, stolen } = table.steal({
        lease,
        name: request.name,
        mode: "exclusive",
        limit: undefined,
        request: request.id,
        value: request.value,
        maxWaiters: maxWaitersPerLock,
        lockDelay,
      });
      this.events.acquired(hold.entry.kind, "stolen");
      for (const gone of stolen) {
        this.events.lockLost(gone.entry.kind, "stolen");
        gone.lease.session.send({ type: "lock.lost", name: request.name, token: gone.token, reason: "stolen" });
      }
      return hold;
    }
    const wait = request.wait === true || request.wait > 0;
    const outcome = table.acquire(
      { lease, name: request.name, mode: request.mode, limit: request.limit, request: request.id, value: request.value, maxWaiters: maxWaitersPerLock, lockDelay },
      wait,
    );
    this.events.acquired(table.kind === "election" ? "election" : request.limit === undefined ? "lock" : "semaphore", outcome.kind);
    if (outcome.kind === "granted") return outcome.hold;
    if (outcome.kind === "busy") return "busy";
    if (request.wait !== true) {
      outcome.waiter.expiresAt = this.options.clock.wallNow() + request.wait;
      this.changes.wait(outcome.waiter);
      this.startWaitTimer(table, outcome.waiter, request.wait);
    }
    return "queued";
  }

  /** A finite wait answers "not acquired" (or "not elected") when its time is up. */
  startWaitTimer(table: LockTable, waiter: Waiter, ms: number): void {
    waiter.timer = this.options.clock.setTimer(ms, () => {
      waiter.timer = null;
      this.events.waitEnded(waiter.entry.kind, "timeout", this.now - waiter.since);
      table.withdraw(waiter);
      const session = waiter.lease.session;
      if (waiter.entry.kind === "election") session.reply<"election.campaign">(waiter.request, { elected: false });
      else session.reply<"lock.acquire">(waiter.request, { acquired: false });
    });
  }

  /** Cancels a queued wait of this session. False if it is no longer queued (granted or answered). */
  cancel(session: Session, request: number): boolean {
    const waiter: Waiter | undefined = session.waits.get(request);
    if (!waiter) return false;
    this.events.waitEnded(waiter.entry.kind, "cancelled", this.now - waiter.since);
    this.table(waiter.entry.kind).withdraw(waiter);
    session.fail(request, ErrorCode.CANCELLED, `the wait for "${waiter.entry.name}" was cancelled`);
    return true;
  }

  release(session: Session, table: LockTable, name: string, token: number): boolean {
    return table.release(name, token, session);
  }

  /** Admin: take a lock away from its holders; each is told with `lock.lost`. */
  forceRelease(name: string): boolean {
    const entry = this.locks.get(name);
    if (!entry || entry.holders.size === 0) return false;
    for (const hold of [...entry.holders.values()]) {
      this.events.lockLost(entry.kind, "revoked");
      hold.lease.session.send({ type: "lock.lost", name, token: hold.token, reason: "revoked" });
      this.locks.revoke(hold);
    }
    return true;
  }

  // Deadlines

  #grantedFromQueue(hold: Hold, waiter: Waiter): void {
    this.events.waitEnded(hold.entry.kind, "granted", this.now - waiter.since);
    const session = hold.lease.session;
    if (hold.entry.kind === "election") session.reply<"election.campaign">(hold.request, { elected: true, token: hold.token });
    else session.reply<"lock.acquire">(hold.request, { acquired: true, token: hold.token });
  }

  /** Counts a lease's end and what its holders lost; logs an expiry, which an operator wants to see. */
  #reportEnd(lease: Lease, reason: LeaseEndReason): void {
    this.events.leaseEnded(reason);
    if (reason !== "released") for (const hold of lease.holds) this.events.lockLost(hold.entry.kind, reason === "expired" ? "lease_expired" : "lease_revoked");
    if (reason !== "expired") return;
    const session = lease.session;
    const silentMs = Math.round(this.now - (lease.keepAlive ? session.lastHeard : lease.renewedAt));
    this.options.logger?.info({ session: session.id, lease: lease.id, ttl: lease.ttl, silentMs, holds: lease.holds.size }, "lease expired");
  }

  /** True if the lease is alive now; a lease whose deadline has passed is ended on the spot. */
  #checkLease(lease: Lease): boolean {
    if (lease.ended) return false;
    if (this.deadline(lease) > this.now) return true;
    this.endLease(lease, "expired");
    return false;
  }

  /** When a silent session is dropped: after the grace period, or its longest lease's TTL if longer. */
  #sessionDeadline(session: Session): number {
    let keep = this.options.sessionGraceMs;
    for (const lease of session.leases.values()) keep = Math.max(keep, lease.ttl);
    return session.lastHeard + keep;
  }

  #nextDeadline(session: Session): number {
    let next = this.#sessionDeadline(session);
    for (const lease of session.leases.values()) next = Math.min(next, this.deadline(lease));
    return next;
  }

  /** Makes sure the session's timer fires no later than its earliest deadline. */
  #armDeadline(session: Session): void {
    const at = this.#nextDeadline(session);
    if (session.dueIndex >= 0 && session.dueAt <= at) return;
    this.#deadlines.scheduleAt(session, at);
  }

  /** Stops checking deadlines (server shutdown): no session or lease expires after this. */
  stopDeadlines(): void {
    this.#deadlines.clear();
    this.locks.stopTimers();
  }

  #onDeadline(session: Session): void {
    if (session.ended) return;
    const now = this.now;
    for (const lease of [...session.leases.values()]) {
      if (this.deadline(lease) <= now) this.endLease(lease, "expired");
    }
    if (this.#sessionDeadline(session) <= now) {
      this.options.logger?.info({ session: session.id }, "session dropped after silence");
      session.outlet?.close(CloseCode.SESSION_EXPIRED, "session expired after silence");
      this.endSession(session, "expired");
      return;
    }
    this.#armDeadline(session);
  }
}

/**
 * The shortest TTL among the session's leases kept alive by heartbeats (+Infinity: none), the heartbeat
 * rule's input. A plain loop rather than a generator of the TTLs: it runs for every ping, and the
 * generator and its iterator were a fifth of an idle server's allocations (BENCHMARKS.md, "Idle sessions (round 6)").
 */
function shortestKeptAliveTtl(session: Session): number {
  let shortest = Number.POSITIVE_INFINITY;
  for (const lease of session.leases.values()) if (lease.keepAlive && lease.ttl < shortest) shortest = lease.ttl;
  return shortest;
}
