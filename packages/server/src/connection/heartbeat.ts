import type { Clock } from "@leasehold/protocol";
import type { Session } from "../core/model.js";
import { TimerQueue, type Scheduled } from "../core/timer-queue.js";

/** What a heartbeat needs of a connection: a way to send a ping. Not the connection itself. */
export interface Pinger {
  ping(seq: number, ack: number): void;
}

/** One connection's heartbeat: the session it keeps alive, where its pings go, and its place in the queue. */
export interface Beating extends Pinger, Scheduled {
  readonly session: Session;
  /** Set when the connection leaves its session: no ping goes out after that. */
  readonly detached: boolean;
}

/**
 * The heartbeats of all of a server's connections, on one timer rather than a timer per connection
 * (see TimerQueue). Each beat sends a ping that carries the last pong heard, so that the client's
 * deadline counts from a moment it knows the server had heard it; the next beat is due one interval
 * later, at the session's interval (Coordinator.heartbeatInterval: a quarter of its shortest kept-alive
 * TTL, at most the configured interval). Silence is judged by the rules, not here: anything heard
 * moves the session's `lastHeard`, and the coordinator ends the leases and the session whose deadlines
 * pass (core/coordinator.ts, `#onDeadline`).
 */
export class Heartbeats {
  readonly #queue: TimerQueue<Beating>;

  constructor(
    clock: Clock,
    /** The session's current heartbeat interval in ms. */
    readonly interval: (session: Session) => number,
  ) {
    this.#queue = new TimerQueue<Beating>(clock, (beating) => this.#beat(beating));
  }

  /** (Re)starts a connection's heartbeat at its session's current interval (after the welcome, and when a lease may have shortened it). */
  restart(beating: Beating): void {
    if (beating.detached) return;
    this.#queue.scheduleAt(beating, nextPingAt(this.#queue.clock.now(), this.interval(beating.session)));
  }

  /** The connection left its session. */
  stop(beating: Beating): void {
    this.#queue.cancel(beating);
  }

  /** Every heartbeat stops (server shutdown). */
  clear(): void {
    this.#queue.clear();
  }

  #beat(beating: Beating): void {
    if (beating.detached) return;
    const session = beating.session;
    beating.ping(++session.pingSeq, session.pongSeq);
    this.restart(beating);
  }
}

/**
 * When a ping restarted now goes: one interval from now, rounded up to the next multiple of the ping
 * grid, 1 % of the interval (at most PING_GRID_MS; none below 2 ms). A ping is never early, and at most
 * a grid step late. Sessions start at any moment, so their pings were due at as many different moments:
 * at 10,000 idle sessions the server woke about 1,200 times a second, for 2 or 3 pings and their pongs
 * each. On the grid, all the pings due in one step go out in one timer run, and their pongs come back
 * together (BENCHMARKS.md, "Idle sessions (round 8)").
 */
export function nextPingAt(now: number, interval: number): number {
  const due = now + interval;
  const grid = Math.min(PING_GRID_MS, Math.floor(interval / 100));
  return grid < 2 ? due : Math.ceil(due / grid) * grid;
}

/** The longest a ping waits for its grid step (ms): 10 ms at the default interval of 3,333 ms (0.3 %). */
export const PING_GRID_MS = 10;

/** A pong acknowledges a ping that was sent; one for a ping not sent yet, or older than the last, changes nothing. */
export function pongHeard(session: Session, seq: number): void {
  if (seq > session.pongSeq && seq <= session.pingSeq) session.pongSeq = seq;
}
