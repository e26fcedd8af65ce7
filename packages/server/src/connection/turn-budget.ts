/**
 * How many frames of one connection are handled back to back in one turn of the event loop. ws
 * emits every message of a read synchronously, and libuv reads up to 32 chunks of 64 KiB from one
 * socket per turn: a peer that pipelines small frames had 5,600 of them handled in one go (200-500 ms
 * on a loaded machine), during which no other session was read, so that a bystander waited on it
 * most of the time while the server's CPU stayed below half. Past this many, the connection's further
 * frames wait for the next turns, this many at a time, with every other socket read in between.
 * Measured (bench "under attack", refused-frame flood at the default rate, loaded 2-core machine):
 * with 64 a bystander's p50 was 1.2 ms and it got 2,400 answers in 3 s, with 16 0.47 ms and 4,800
 * (509 with no budget). The cost is a turn per 16 frames for a pipelining client: an echo server
 * (the worst case, no work per frame) took 73-79k frames/s from one socket instead of 105-131k,
 * above the 50,000 frames/s one session may send by default.
 */
export const FRAMES_PER_TURN = 16;

/** What the budget needs of a socket: the ws receiver behind it (a ws internal, see setSynchronous). */
export type PacedSocket = object;

/**
 * Per-turn frame budgets of all of a server's connections: a count kept on each socket, tagged with
 * the number of the budget's current period (from one counter for all budgets, so that a count left
 * by another budget is never taken for one of this), and one immediate that ends the period for all
 * of them, rather than state and timers on every (mostly idle) connection. A count of an earlier
 * period is a count of 0: ending a period clears every count at once. A socket is counted by one
 * budget, its server's.
 *
 * The counts were in a Map by socket, cleared at each reset: a lookup and a store in its table per
 * frame. 16 ws sockets counted in turn, a reset every 16 frames, medians of 5 runs: 113-119 → 90 ns a
 * frame (BENCHMARKS.md, "The server's path per lock pair (round 12)").
 *
 * The immediate is scheduled once half a budget of frames (8) has been counted since the last reset,
 * from any sockets, not in every turn in which a frame arrived: a client with one request in flight
 * sends one frame a turn, and an immediate per request (the check phase's entry into JS, its callback
 * scope and tick queue) was 4.4 % of the server's CPU per uncontended lock pair with one client (perf:
 * 2.1 % with this rule; server CPU per pair 4 % lower, interleaved A/B; BENCHMARKS.md "Lock pairs and
 * the one-client row (round 9)"). Counts not cleared carry over into later turns, so a count is never
 * below the frames a socket sent this turn: no socket ever has more than its budget handled in one
 * turn. Fewer than 8 frames in all can carry over, so a socket is deferred only in a turn in which it
 * sent at least 9 of its 16. With many clients 8 frames come in most turns, and the reset runs every
 * turn as before.
 */
export class TurnBudget {
  /** The current period's number, from `nextEpoch`: unique across budgets, so that no socket's count under another budget is taken for one of this. */
  #epoch = nextEpoch++;
  /** Sockets past their budget this turn: their frames are deferred until the reset. */
  #spent: PacedSocket[] = [];
  /** Frames counted since the last reset, from all sockets. */
  #counted = 0;
  /** Half a budget: frames counted, from all sockets, after which the counts are reset at the end of the turn. */
  readonly #resetAfter: number;
  #resetScheduled = false;

  constructor(readonly framesPerTurn: number = FRAMES_PER_TURN) {
    this.#resetAfter = Math.max(1, framesPerTurn >> 1);
  }

  /**
   * Counts one frame read from `socket`; at the budget, its next frames wait for later turns. A socket
   * that carries many clients (a follower's link) passes its own budget, `framesPerTurn` per client.
   */
  frame(socket: PacedSocket, budget: number = this.framesPerTurn): void {
    const counted = socket as Counted;
    const frames = counted[EPOCH] === this.#epoch ? (counted[FRAMES] as number) + 1 : 1;
    counted[FRAMES] = frames;
    counted[EPOCH] = this.#epoch;
    this.#counted++;
    if (!this.#resetScheduled && this.#counted >= this.#resetAfter) {
      this.#resetScheduled = true;
      // After the poll phase, in which the frames were read. A reset queued while ws's own deferred
      // message is being emitted (check phase) runs a turn later, so each turn has its own budget.
      setImmediate(this.#reset);
    }
    if (frames === budget) {
      setSynchronous(socket, false);
      this.#spent.push(socket);
    }
  }

  readonly #reset = (): void => {
    this.#resetScheduled = false;
    this.#counted = 0;
    this.#epoch = nextEpoch++;
    const spent = this.#spent;
    this.#spent = [];
    for (const socket of spent) setSynchronous(socket, true);
  };
}

/** Where a socket's count and its epoch are kept: properties of the socket object under these keys. */
const FRAMES = Symbol("leasehold.turnFrames");
const EPOCH = Symbol("leasehold.turnEpoch");
type Counted = { [FRAMES]?: number; [EPOCH]?: number };
let nextEpoch = 1;

/**
 * ws emits every message of a read synchronously unless its receiver's `allowSynchronousEvents` is
 * off, in which case the next message waits for an immediate (the next check phase), after which,
 * with the flag back on, the rest of the read is emitted synchronously again. (A ws internal: if a
 * future ws renames it, frames are still handled, only without this interleaving.)
 */
function setSynchronous(socket: PacedSocket, synchronous: boolean): void {
  const receiver = (socket as { _receiver?: { _allowSynchronousEvents?: unknown } })._receiver;
  if (receiver && typeof receiver._allowSynchronousEvents === "boolean") receiver._allowSynchronousEvents = synchronous;
}
