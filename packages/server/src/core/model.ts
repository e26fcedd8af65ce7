import type { ErrorCode, LockMode, RequestOp, ResultOf, ServerMessage, Timer, Value } from "@leasehold/protocol";
import type { Account } from "./accounts.js";
import type { QueueNode, WaitQueue } from "./wait-queue.js";

/** A watch or an election observer, bound to the session's connection. */
export interface Subscription {
  close(): void;
}

// What an absent collection reads as: one empty Map and one empty Set, shared, behind read-only types.
const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();
const EMPTY_SET: ReadonlySet<never> = new Set<never>();

/** Where a session's messages go while it has a connection. */
export interface Outlet {
  readonly address: string;
  /** Bytes queued on the socket and not yet sent: a slow reader's backlog. */
  readonly bufferedAmount: number;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
}

/**
 * A client session. It outlives its connection: while detached (`outlet === null`) its leases keep
 * counting down from `lastHeard`, and a reconnect with the session's secret re-attaches it.
 */
export class Session {
  outlet: Outlet | null = null;
  lastHeard: number;
  /** Highest request id received; a resumed client re-sends the requests above it. */
  lastRequest = 0;
  /** Sequence numbers of heartbeats: the last ping sent and the last pong heard. */
  pingSeq = 0;
  pongSeq = 0;
  readonly leases = new Map<number, Lease>();
  /**
   * Holds across the session's leases, kept by Lease.addHold and deleteHold: with its waits, what
   * `maxLocksPerSession` bounds at every acquire. Summed over the leases there, an acquire cost a walk
   * of them all: with 200 leases a session (the queue-depth row's 10,000 waiters on 50 connections) the
   * walk was about 10 µs of each acquire in a profile (90-99 samples of 100 µs over 1,000 grants, the
   * line `acquire`'s hottest by far), and grew with every lease a session holds.
   */
  holdCount = 0;
  // Waits and subscriptions are made on first use: most sessions never have any, and an empty Map
  // costs an idle session about 180 bytes.
  #waits: Map<number, Waiter> | undefined;
  #subscriptions: Map<number, Subscription> | undefined;
  /**
   * When the coordinator next checks the session's deadlines (the earliest lease deadline or the
   * session's own), and its place in the coordinator's deadline queue (see TimerQueue).
   */
  dueAt = Number.POSITIVE_INFINITY;
  dueIndex = -1;
  dueSeq = 0;
  ended = false;

  constructor(
    readonly id: string,
    readonly secret: string,
    readonly createdAt: number,
    public address: string,
    public agent: string | undefined,
    /** Whose quotas the session, its leases and its election values count against (see accounts.ts). */
    readonly account: Account,
    /**
     * Who opened it (its `principalId`: `token:NAME`, `jwt:SUB`), so that only the same principal may resume it;
     * undefined for a session stored before principals were kept (anyone with its secret may resume it).
     */
    readonly principal: string | undefined,
    /** Wall-clock ms of the session's start, which storage keeps (monotonic times mean nothing after a restart). */
    readonly createdWallClock: number,
  ) {
    this.lastHeard = createdAt;
  }

  /** Queued waits by request id, so that `cancel` and resync can find them. */
  get waits(): ReadonlyMap<number, Waiter> {
    return this.#waits ?? EMPTY_MAP;
  }

  addWait(waiter: Waiter): void {
    (this.#waits ??= new Map()).set(waiter.request, waiter);
  }

  deleteWait(request: number): void {
    this.#waits?.delete(request);
  }

  /** Watches and observers by the id of the request that opened them. They live as long as the connection they were opened on. */
  get subscriptions(): ReadonlyMap<number, Subscription> {
    return this.#subscriptions ?? EMPTY_MAP;
  }

  addSubscription(id: number, subscription: Subscription): void {
    (this.#subscriptions ??= new Map()).set(id, subscription);
  }

  /** Forgets the subscription opened by request `id`, if it is still this one. */
  deleteSubscription(id: number, subscription: Subscription): void {
    if (this.#subscriptions?.get(id) === subscription) this.#subscriptions.delete(id);
  }

  /** Closes every watch and observer (each leaves the map as it closes) and forgets them. */
  closeSubscriptions(): void {
    if (!this.#subscriptions) return;
    for (const subscription of [...this.#subscriptions.values()]) subscription.close();
    this.#subscriptions = undefined;
  }

  send(message: ServerMessage): void {
    this.outlet?.send(message);
  }

  /**
   * Answers request `id` with the result of its op, which the caller names (`reply<"lock.acquire">`):
   * the id alone does not tell the op, and without it the result would not be checked at all.
   */
  reply<Op extends RequestOp = never>(id: number, result: ResultOf<NoInfer<Op>>): void {
    this.send({ type: "reply", id, result: result as Record<string, unknown> });
  }

  fail(id: number, code: ErrorCode, message: string): void {
    this.send({ type: "error", id, code, message });
  }
}

export class Lease {
  /**
   * Its holds: the one hold of a lease that has never held two at once in `#one`, a Set from its second.
   * A Set emptied by a delete is given a new table by V8 (it shrinks a collection left under half full),
   * so that a lease holding one lock at a time made one per release: a set and delete that empties a
   * collection took 124-129 ns in a loop against 59 with an element left, and the reallocated tables of a
   * release were 9 % of the bytes a server allocated per lock pair (BENCHMARKS.md, "The server's path per
   * lock pair (round 12)"). An idle session's lease with its one lock keeps no Set either.
   */
  #one: Hold | undefined;
  #many: Set<Hold> | undefined;
  // Made on first use, like a session's waits: most leases never queue or bind a key.
  #waits: Set<Waiter> | undefined;
  #keys: Set<string> | undefined;
  ended = false;

  constructor(
    readonly id: number,
    readonly ttl: number,
    readonly keepAlive: boolean,
    readonly session: Session,
    /** When the lease was granted or last renewed; the deadline of a lease without keep-alive counts from here. */
    public renewedAt: number,
  ) {}

  /**
   * Its holds, in the order they were added; added and deleted through addHold and deleteHold, which keep
   * the session's count. While there is at most one, a Set made for the caller: read when a lease ends,
   * resumes or is asked about, never per request.
   */
  get holds(): ReadonlySet<Hold> {
    if (this.#many !== undefined) return this.#many;
    return this.#one === undefined ? EMPTY_SET : new Set([this.#one]);
  }

  addHold(hold: Hold): void {
    if (this.#many !== undefined) {
      if (this.#many.has(hold)) return;
      this.#many.add(hold);
    } else if (this.#one === undefined) {
      this.#one = hold;
    } else {
      if (this.#one === hold) return;
      this.#many = new Set([this.#one, hold]);
      this.#one = undefined;
    }
    this.session.holdCount++;
  }

  deleteHold(hold: Hold): void {
    if (this.#many !== undefined) {
      if (this.#many.delete(hold)) this.session.holdCount--;
    } else if (this.#one === hold) {
      this.#one = undefined;
      this.session.holdCount--;
    }
  }

  get waits(): ReadonlySet<Waiter> {
    return this.#waits ?? EMPTY_SET;
  }

  addWait(waiter: Waiter): void {
    (this.#waits ??= new Set()).add(waiter);
  }

  deleteWait(waiter: Waiter): void {
    this.#waits?.delete(waiter);
  }

  /** Keys bound to the lease, deleted when it ends. */
  get keys(): ReadonlySet<string> {
    return this.#keys ?? EMPTY_SET;
  }

  addKey(key: string): void {
    (this.#keys ??= new Set()).add(key);
  }

  deleteKey(key: string): void {
    this.#keys?.delete(key);
  }

  clearKeys(): void {
    this.#keys = undefined;
  }
}

export type LockKind = "lock" | "semaphore" | "election";

/** One grant: a lock held exclusively or shared, a semaphore slot, or an election's leadership. */
export interface Hold {
  readonly entry: LockEntry;
  readonly lease: Lease;
  readonly token: number;
  readonly mode: LockMode;
  readonly request: number;
  /** An election candidate's value. */
  readonly value: Value | undefined;
  /** When it was granted (restored: when the server started), on the server's clock. */
  readonly since: number;
  /** Ms the lock stays ungrantable after this hold is lost rather than released (see LockDelay); 0 for none. */
  readonly lockDelay: number;
}

/**
 * What a hold lost rather than released (its lease expired or was revoked by an admin) leaves behind
 * for its lock-delay: it counts as a holder of its mode until `until`, on the server's clock, so that
 * nobody is granted beside a holder that may not know yet and still be writing.
 */
export interface LockDelay {
  readonly mode: LockMode;
  readonly until: number;
  /** The lost hold's token: its stored row stands for the delay until it ends. */
  readonly token: number;
}

export interface Waiter {
  readonly entry: LockEntry;
  readonly lease: Lease;
  readonly mode: LockMode;
  readonly request: number;
  readonly value: Value | undefined;
  /** Queue order across restarts: waiters of a name are restored in increasing `seq`. */
  readonly seq: number;
  /** When it was queued (restored: when the server started), on the server's clock. */
  readonly since: number;
  /** Wall-clock ms when a finite wait gives up (kept across restarts); undefined for `wait: true`. */
  expiresAt: number | undefined;
  /** The lock-delay its hold will have. */
  readonly lockDelay: number;
  node: QueueNode<Waiter> | null;
  timer: Timer | null;
}

export interface LockEntry {
  readonly name: string;
  readonly kind: LockKind;
  /** Most holders at once: 1 for locks (shared holders aside) and elections, the limit for semaphores. */
  readonly limit: number;
  readonly holders: Map<number, Hold>;
  readonly queue: WaitQueue<Waiter>;
  /** Lock-delays running now (made on first use: most entries never have one), and the timer for the earliest end. */
  delays: LockDelay[] | undefined;
  delayTimer: Timer | undefined;
  /**
   * No holder, no waiter and no lock-delay, and kept in its table for the next acquire of the name
   * rather than forgotten (LockTable, `#keepFree`): the table's readers see no such entry.
   */
  free: boolean;
}
