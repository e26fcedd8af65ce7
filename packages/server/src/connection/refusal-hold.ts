import type { Clock, Timer } from "@leasehold/protocol";

/**
 * How long a refusal the client can do nothing about for now (HTTP 429 past its address's rate of new
 * connections, 4005 at a session cap) waits before it is answered: `Retry-After: 1`'s second. Each
 * attempt cost the server 0.25-0.9 ms whatever its outcome, and a client retrying at once (a naive loop,
 * a buggy client, the bench's parking attacker) made the server do that hundreds of times a second
 * (22-40 % of a core, BENCHMARKS.md "Under attack (round 9)"). Held, it makes at most one attempt a
 * second per connection it keeps in flight, and those count against its address's open connections.
 */
export const REFUSAL_HOLD_MS = 1_000;

/**
 * A socket whose refusal is held: not read meanwhile, and dropped if the server closes first. One the
 * peer closes meanwhile keeps its timer to the end of the hold, whose answer then does nothing: a
 * gateway's link stream has room for one close listener only (its connection's).
 */
export interface HeldSocket {
  pause(): void;
  resume(): void;
}

/**
 * The refusals being held (a tarpit, as SMTP servers and OpenSSH's MaxStartups do). A held socket is
 * paused, so it costs only its kernel buffers and its place in its address's quota until the hold ends;
 * the holds end at once when the server closes (`releaseAll`), and the clock's timers do not keep the
 * process alive.
 */
export class RefusalHolds {
  readonly #held = new Map<HeldSocket, { timer: Timer; drop: () => void }>();
  #closed = false;

  constructor(
    readonly clock: Clock,
    readonly holdMs: number,
  ) {}

  /** Answers `socket` with `answer` after the hold (at once if there is none); `drop` ends it without an answer when the server closes. */
  hold(socket: HeldSocket, answer: () => void, drop: () => void): void {
    if (this.#closed) return drop();
    if (this.holdMs <= 0) return answer();
    socket.pause();
    const timer = this.clock.setTimer(this.holdMs, () => {
      if (!this.#held.delete(socket)) return;
      // Read again, so that the peer's answer to the close (its close frame, its FIN) ends the socket.
      socket.resume();
      answer();
    });
    this.#held.set(socket, { timer, drop });
  }

  /** Whether `socket`'s refusal is being held (a request read from it meanwhile is not served). */
  holds(socket: HeldSocket): boolean {
    return this.#held.has(socket);
  }

  /** The server is closing: every hold ends now, its socket dropped. */
  releaseAll(): void {
    this.#closed = true;
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const { timer, drop } of held) {
      timer.cancel();
      drop();
    }
  }
}
