import type { Clock } from "@leasehold/protocol";
import type { Session } from "../core/model.js";
import { TimerQueue, type Scheduled } from "../core/timer-queue.js";

/** What a heartbeat needs of a connection: a way to send a ping. Not the connection itself. */
export interface Pinger {
  ping(seq: number, ack: number): void;
}

/** One connection's heartbeat: the session it keeps alive, where its pings go, and its place in its lane. */
export interface Beating extends Pinger, LaneSlot {
  readonly session: Session;
  /** Set when the connection leaves its session: no ping goes out after that. */
  readonly detached: boolean;
}

/** What the heartbeats keep on each connection's heartbeat. The fields belong to Heartbeats: only it writes them. */
export interface LaneSlot {
  /** When its next ping is due (clock ms); +Infinity while none is. */
  pingAt: number;
  /** The lane it waits in, and its neighbours there; undefined while no ping is due. */
  pingLane: PingLane | undefined;
  pingPrev: Beating | undefined;
  pingNext: Beating | undefined;
}

/**
 * The heartbeats of all of a server's connections, on one timer rather than a timer per connection
 * (see TimerQueue). Each beat sends a ping that carries the last pong heard, so that the client's
 * deadline counts from a moment it knows the server had heard it; the next beat is due one interval
 * later, at the session's interval (Coordinator.heartbeatInterval: a quarter of its shortest kept-alive
 * TTL, at most the configured interval), on the grid of `nextPingAt`. Silence is judged by the rules,
 * not here: anything heard moves the session's `lastHeard`, and the coordinator ends the leases and
 * the session whose deadlines pass (core/coordinator.ts, `#onDeadline`).
 *
 * The heartbeats of one interval wait in a lane, a list in the order they are due: each is restarted
 * at the clock's time plus the same interval, so the one restarted last is due last, and joining or
 * leaving a lane costs a few links. Only the lanes (one per interval in use) are in the TimerQueue's
 * heap. With every heartbeat in the heap, taking the earliest out cost a sift-down through 10,000
 * items at 10,000 idle sessions, each step a read of another connection's fields: 6 to 8 % of the
 * idle server's busy time (BENCHMARKS.md, "Idle sessions (round 8)").
 */
export class Heartbeats {
  readonly #queue: TimerQueue<PingLane>;
  /** The lanes by interval: only those with a heartbeat in them. */
  readonly #lanes = new Map<number, PingLane>();

  constructor(
    clock: Clock,
    /** The session's current heartbeat interval in ms. */
    readonly interval: (session: Session) => number,
  ) {
    this.#queue = new TimerQueue<PingLane>(clock, (lane) => this.#laneDue(lane));
  }

  /** (Re)starts a connection's heartbeat at its session's current interval (after the welcome, and when a lease may have shortened it). */
  restart(beating: Beating): void {
    if (beating.detached) return;
    this.#leaveLane(beating);
    const interval = this.interval(beating.session);
    let lane = this.#lanes.get(interval);
    if (lane === undefined) {
      lane = new PingLane(interval);
      this.#lanes.set(interval, lane);
    }
    beating.pingAt = nextPingAt(this.#queue.clock.now(), interval);
    beating.pingLane = lane;
    beating.pingPrev = lane.tail;
    if (lane.tail === undefined) lane.head = beating;
    else lane.tail.pingNext = beating;
    lane.tail = beating;
    if (lane.head === beating) this.#queue.scheduleAt(lane, beating.pingAt);
  }

  /** The connection left its session. */
  stop(beating: Beating): void {
    this.#leaveLane(beating);
  }

  /** Every heartbeat stops (server shutdown). */
  clear(): void {
    for (const lane of this.#lanes.values()) {
      for (let beating = lane.head; beating !== undefined; ) {
        const next = beating.pingNext;
        clearSlot(beating);
        beating = next;
      }
    }
    this.#lanes.clear();
    this.#queue.clear();
  }

  /** The lane's first heartbeat is due (the lane has left the queue). */
  #laneDue(lane: PingLane): void {
    const beating = lane.head;
    if (beating === undefined) return;
    this.#leaveLane(beating);
    this.#beat(beating);
  }

  #beat(beating: Beating): void {
    if (beating.detached) return;
    const session = beating.session;
    beating.ping(++session.pingSeq, session.pongSeq);
    this.restart(beating);
  }

  /** Takes the heartbeat out of its lane; the lane's place in the queue follows its new head, and an empty lane goes. */
  #leaveLane(beating: Beating): void {
    const lane = beating.pingLane;
    if (lane === undefined) return;
    const { pingPrev: prev, pingNext: next } = beating;
    if (prev === undefined) lane.head = next;
    else prev.pingNext = next;
    if (next === undefined) lane.tail = prev;
    else next.pingPrev = prev;
    clearSlot(beating);
    if (prev !== undefined) return;
    if (next !== undefined) this.#queue.scheduleAt(lane, next.pingAt);
    else {
      this.#queue.cancel(lane);
      this.#lanes.delete(lane.interval);
    }
  }
}

/** The heartbeats of one interval, in the order they are due; in the TimerQueue at its first one's time. */
export class PingLane implements Scheduled {
  dueAt = Number.POSITIVE_INFINITY;
  dueIndex = -1;
  dueSeq = 0;
  head: Beating | undefined = undefined;
  tail: Beating | undefined = undefined;

  constructor(readonly interval: number) {}
}

function clearSlot(beating: Beating): void {
  beating.pingAt = Number.POSITIVE_INFINITY;
  beating.pingLane = undefined;
  beating.pingPrev = undefined;
  beating.pingNext = undefined;
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
