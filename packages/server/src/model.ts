import type { ErrorCode, LockMode, ServerMessage, Timer, Value } from "@leasehold/protocol";
import type { QueueNode, WaitQueue } from "./wait-queue.js";

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
  /** Queued waits by request id, so that `cancel` and resync can find them. */
  readonly waits = new Map<number, Waiter>();
  /** Watches and observers by the id of the request that opened them. They live as long as the connection they were opened on. */
  readonly subscriptions = new Map<number, { close(): void }>();
  /** The session's single deadline timer: the earliest lease deadline or the session's own. */
  deadlineTimer: Timer | null = null;
  deadlineAt = Number.POSITIVE_INFINITY;
  ended = false;

  constructor(
    readonly id: string,
    readonly secret: string,
    readonly createdAt: number,
    public address: string,
    public agent: string | undefined,
    /** Wall-clock ms of the session's start, which storage keeps (monotonic times mean nothing after a restart). */
    readonly createdWallClock: number = Date.now(),
  ) {
    this.lastHeard = createdAt;
  }

  send(message: ServerMessage): void {
    this.outlet?.send(message);
  }

  reply(id: number, result: object): void {
    this.send({ type: "reply", id, result: result as Record<string, unknown> });
  }

  fail(id: number, code: ErrorCode, message: string): void {
    this.send({ type: "error", id, code, message });
  }
}

export interface Lease {
  readonly id: number;
  readonly ttl: number;
  readonly keepAlive: boolean;
  readonly session: Session;
  /** When the lease was granted or last renewed; the deadline of a lease without keep-alive counts from here. */
  renewedAt: number;
  readonly holds: Set<Hold>;
  readonly waits: Set<Waiter>;
  /** Keys bound to the lease, deleted when it ends. */
  readonly keys: Set<string>;
  ended: boolean;
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
}

export interface Waiter {
  readonly entry: LockEntry;
  readonly lease: Lease;
  readonly mode: LockMode;
  readonly request: number;
  readonly value: Value | undefined;
  /** Queue order across restarts: waiters of a name are restored in increasing `seq`. */
  readonly seq: number;
  /** Wall-clock ms when a finite wait gives up (kept across restarts); undefined for `wait: true`. */
  expiresAt: number | undefined;
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
}
