import {
  ErrorCode,
  encode,
  type AdminLeaseView,
  type AdminLockView,
  type AdminSessionView,
  type AdminUpdate,
  type Clock,
  type Limits,
  type Timer,
} from "@leasehold/protocol";
import { ServerError } from "../errors.js";
import type { LockTable } from "./lock-table.js";
import type { Lease, LockEntry, Session } from "./model.js";
import { BackPressure, type BackPressureOptions } from "./shared/back-pressure.js";

/** What the admin feed reads from the coordinator. */
export interface AdminFeedHost {
  readonly sessions: ReadonlyMap<string, Session>;
  readonly leases: ReadonlyMap<number, Lease>;
  readonly locks: LockTable;
  readonly elections: LockTable;
  readonly revision: number;
  readonly options: { clock: Clock; limits: Limits; watch: BackPressureOptions };
  readonly access: AdminAccess;
}

/**
 * Who may go on reading the feed: the auth guard implements it (a reload may take a session's admin
 * right away while its feed is open), so that core/ needs nothing of auth.
 */
export interface AdminAccess {
  /** Whether the session's principal holds the admin right over every name now. */
  mayAdminister(session: Session): boolean;
}

/** Authentication off: every session may do everything. */
export const OPEN_ACCESS: AdminAccess = { mayAdminister: () => true };

/**
 * Changes are gathered for this long and sent together: a busy server changes thousands of entries
 * a second, and a page that redraws more often than 10 times a second shows nothing more.
 */
export const ADMIN_FLUSH_MS = 100;
/** Holders and waiters listed per entry (the counts are always whole): one entry's view stays a few KiB even with 100,000 waiters. */
export const ADMIN_LISTED = 100;
/** Largest push, in bytes: well below the 64 KiB frame limit (a 5,000-lock snapshot is about 30 pushes). */
const PUSH_BYTES = 32 * 1024;
/** Changes remembered for a paused subscriber beyond what exists before it is given a new snapshot instead. */
export const SLACK_ENTRIES = 10_000;

/** One subscriber's pending work: what changed since its last push, by kind. */
class AdminSubscriber {
  readonly sessions = new Set<string>();
  readonly leases = new Set<number>();
  readonly locks = new Set<string>();
  readonly elections = new Set<string>();
  /** The next push starts a snapshot. */
  reset = true;
  closed = false;

  constructor(
    readonly feed: AdminFeed,
    readonly session: Session,
    readonly id: number,
    /** Paused while its socket is backed up; only the names of what changed pile up meanwhile. */
    readonly pace: BackPressure,
  ) {}

  get pending(): number {
    return this.sessions.size + this.leases.size + this.locks.size + this.elections.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pace.stop();
    this.feed.forget(this);
  }
}

/**
 * The admin feed (`admin.subscribe`): a snapshot of sessions, leases, locks and elections, then
 * what changed. Each subscriber keeps only the names of what changed since its last push (the
 * push carries their state as it is then), so a slow subscriber costs at most one name per live
 * thing: while its socket is backed up it is paused, and if the names of things that came and went
 * pile up past what exists it is given a fresh snapshot instead. Pushes stay below PUSH_BYTES.
 */
export class AdminFeed {
  readonly #subscribers = new Set<AdminSubscriber>();
  #flush: Timer | null = null;

  constructor(readonly host: AdminFeedHost) {}

  /** Opens the feed for request `id`, answers it, and sends the snapshot. */
  open(session: Session, id: number): void {
    const { maxWatchesPerSession } = this.host.options.limits;
    if (session.subscriptions.size >= maxWatchesPerSession) {
      throw new ServerError(ErrorCode.LIMIT_EXCEEDED, `this session has ${session.subscriptions.size} watches, observers and admin feeds open, the most allowed; close one first`);
    }
    const { clock, watch } = this.host.options;
    const subscriber: AdminSubscriber = new AdminSubscriber(this, session, id, new BackPressure(clock, watch, () => this.#pump(subscriber)));
    this.#fillSnapshot(subscriber);
    this.#subscribers.add(subscriber);
    session.addSubscription(id, subscriber);
    session.reply<"admin.subscribe">(id, { subscription: id, revision: this.host.revision });
    this.#pump(subscriber);
  }

  /** Closes a subscription of this session on its request. False if there is none with that id. */
  unsubscribe(session: Session, id: number): boolean {
    const subscriber = session.subscriptions.get(id);
    if (!(subscriber instanceof AdminSubscriber)) return false;
    subscriber.close();
    return true;
  }

  // Each of these is called on every grant, release and lease change: with no admin subscribed (the
  // usual case) they return before making the closure that marks the change for each subscriber.
  sessionChanged(session: Session): void {
    if (this.#subscribers.size === 0) return;
    this.#mark((subscriber) => subscriber.sessions.add(session.id));
  }

  leaseChanged(lease: Lease): void {
    if (this.#subscribers.size === 0) return;
    this.#mark((subscriber) => subscriber.leases.add(lease.id));
  }

  /** The holders or the queue of a lock, semaphore or election changed (LockTable's `changed` hook). */
  changed(entry: LockEntry): void {
    if (this.#subscribers.size === 0) return;
    this.#mark((subscriber) => (entry.kind === "election" ? subscriber.elections : subscriber.locks).add(entry.name));
  }

  forget(subscriber: AdminSubscriber): void {
    this.#subscribers.delete(subscriber);
    subscriber.session.deleteSubscription(subscriber.id, subscriber);
  }

  get size(): number {
    return this.#subscribers.size;
  }

  #mark(add: (subscriber: AdminSubscriber) => void): void {
    if (this.#subscribers.size === 0) return;
    const live = this.#liveCount();
    for (const subscriber of this.#subscribers) {
      add(subscriber);
      if (subscriber.pending > live + SLACK_ENTRIES) this.#fillSnapshot(subscriber);
    }
    this.#flush ??= this.host.options.clock.setTimer(ADMIN_FLUSH_MS, () => {
      this.#flush = null;
      for (const subscriber of this.#subscribers) if (!subscriber.pace.paused) this.#pump(subscriber);
    });
  }

  #liveCount(): number {
    const host = this.host;
    return host.sessions.size + host.leases.size + host.locks.size + host.elections.size;
  }

  /** Forgets the subscriber's pending changes and queues everything that exists, as a snapshot. */
  #fillSnapshot(subscriber: AdminSubscriber): void {
    const host = this.host;
    subscriber.reset = true;
    for (const set of [subscriber.sessions, subscriber.leases, subscriber.locks, subscriber.elections]) set.clear();
    for (const id of host.sessions.keys()) subscriber.sessions.add(id);
    for (const id of host.leases.keys()) subscriber.leases.add(id);
    for (const entry of host.locks.entries()) subscriber.locks.add(entry.name);
    for (const entry of host.elections.entries()) subscriber.elections.add(entry.name);
  }

  /** Sends the subscriber its pending changes, one bounded push at a time, for as long as its socket takes them. */
  #pump(subscriber: AdminSubscriber): void {
    for (;;) {
      if (subscriber.closed) return;
      const outlet = subscriber.session.outlet;
      // Without a connection the subscription is about to be closed with it.
      if (!outlet) return;
      if (subscriber.pending === 0 && !subscriber.reset) return;
      if (!this.host.access.mayAdminister(subscriber.session)) {
        this.#revoke(subscriber);
        return;
      }
      if (!subscriber.pace.mayPush(outlet)) return;
      subscriber.session.send(this.#nextPush(subscriber));
    }
  }

  /** The session lost the admin right (a reload changed its credential's rights): the feed ends, nothing more is sent. */
  #revoke(subscriber: AdminSubscriber): void {
    subscriber.close();
    subscriber.session.send({
      type: "watch.closed",
      watch: subscriber.id,
      code: ErrorCode.PERMISSION_DENIED,
      message: "the admin feed was closed: this session's credential no longer has the admin right over every name",
    });
  }

  /** Takes pending changes off the subscriber, sessions first (so that holders and waiters can be named), until the push is full. */
  #nextPush(subscriber: AdminSubscriber): AdminUpdate {
    const host = this.host;
    const now = Math.round(host.options.clock.now());
    const push: AdminUpdate = {
      type: "admin.update",
      subscription: subscriber.id,
      now,
      revision: host.revision,
      reset: subscriber.reset,
      synced: false,
      sessions: [],
      sessionsGone: [],
      leases: [],
      leasesGone: [],
      locks: [],
      locksGone: [],
      electionsGone: [],
    };
    subscriber.reset = false;
    const budget = Math.min(PUSH_BYTES, Math.floor(host.options.limits.maxFrameBytes / 2));
    let bytes = encode(push).byteLength;
    let items = 0;
    // Each item is measured as encoded (+1 for its place in a growing array); the first always goes, so that a push is never empty.
    const take = <Key, View>(keys: Set<Key>, view: (key: Key) => View | undefined, live: View[], gone: Key[]): boolean => {
      for (const key of keys) {
        const item = view(key);
        const size = encode(item ?? key).byteLength + 1;
        if (items > 0 && bytes + size > budget) return false;
        bytes += size;
        items += 1;
        keys.delete(key);
        if (item) live.push(item);
        else gone.push(key);
      }
      return true;
    };
    // Each kind is taken only once the kinds before it are all sent (`&&`).
    const drained =
      take(subscriber.sessions, (id) => sessionView(host.sessions.get(id)), push.sessions, push.sessionsGone) &&
      take(subscriber.leases, (id) => leaseView(host.leases.get(id)), push.leases, push.leasesGone) &&
      take(subscriber.locks, (name) => lockView(host.locks, name), push.locks, push.locksGone) &&
      take(subscriber.elections, (name) => lockView(host.elections, name), push.locks, push.electionsGone);
    push.synced = drained && subscriber.pending === 0;
    return push;
  }
}

function sessionView(session: Session | undefined): AdminSessionView | undefined {
  if (!session || session.ended) return undefined;
  return {
    session: session.id,
    address: session.address,
    agent: session.agent,
    connected: session.outlet !== null,
    since: Math.round(session.createdAt),
  };
}

function leaseView(lease: Lease | undefined): AdminLeaseView | undefined {
  if (!lease || lease.ended) return undefined;
  return {
    lease: lease.id,
    session: lease.session.id,
    ttl: lease.ttl,
    keepAlive: lease.keepAlive,
    expiresAt: lease.keepAlive ? undefined : Math.round(lease.renewedAt + lease.ttl),
  };
}

function lockView(table: LockTable, name: string): AdminLockView | undefined {
  const entry = table.get(name);
  if (!entry) return undefined;
  const delays = table.delaysOf(entry);
  if (entry.holders.size === 0 && entry.queue.size === 0 && delays.length === 0) return undefined;
  const holders: AdminLockView["holders"] = [];
  for (const hold of entry.holders.values()) {
    if (holders.length === ADMIN_LISTED) break;
    holders.push({ session: hold.lease.session.id, lease: hold.lease.id, mode: hold.mode, since: Math.round(hold.since), token: hold.token });
  }
  const waiters: AdminLockView["waiters"] = [];
  for (const waiter of entry.queue) {
    if (waiters.length === ADMIN_LISTED) break;
    waiters.push({ session: waiter.lease.session.id, lease: waiter.lease.id, mode: waiter.mode, since: Math.round(waiter.since) });
  }
  return {
    name: entry.name,
    kind: entry.kind,
    limit: entry.kind === "semaphore" ? entry.limit : undefined,
    holders,
    held: entry.holders.size,
    waiters,
    waiting: entry.queue.size,
    // A loop, not Math.max(...): a semaphore's delays are bounded by its limit, up to 1,000,000 arguments.
    delay: delays.length === 0 ? undefined : { count: delays.length, until: Math.round(delays.reduce((last, delay) => Math.max(last, delay.until), 0)) },
  };
}
