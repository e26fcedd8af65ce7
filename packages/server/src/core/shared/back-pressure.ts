import type { Clock, Timer } from "@leasehold/protocol";
import type { Outlet } from "../model.js";

/** When a push stream holds back, and how often it looks again. */
export interface BackPressureOptions {
  /** While the socket holds more unsent bytes than this, pushes wait where they are instead of in the socket. */
  pauseBytes: number;
  /** How often a paused stream looks again at its socket, in ms. */
  retryMs: number;
}

/**
 * The pause of one push stream (a watch, an election observer, the admin feed) while its socket is
 * backed up. A `ws` socket tells nobody when it drains, so a paused stream looks again every
 * `retryMs`. Meanwhile what it would send waits where it already is (the shared history, the leader as
 * it stands, the names of what changed): a slow reader costs no copies, only its socket's backlog.
 */
export class BackPressure {
  #retry: Timer | null = null;

  constructor(
    readonly clock: Clock,
    readonly options: BackPressureOptions,
    /** Runs when a pause ends: the stream sends what waited. */
    readonly resume: () => void,
  ) {}

  /** True while the stream waits for its socket to drain. */
  get paused(): boolean {
    return this.#retry !== null;
  }

  /**
   * Whether a push may go out on `outlet` now. Not while paused; not when the socket holds more than
   * `pauseBytes`, which pauses the stream until `retryMs` later, when `resume` runs.
   */
  mayPush(outlet: Pick<Outlet, "bufferedAmount">): boolean {
    if (this.#retry !== null) return false;
    if (outlet.bufferedAmount <= this.options.pauseBytes) return true;
    this.#retry = this.clock.setTimer(this.options.retryMs, () => {
      this.#retry = null;
      this.resume();
    });
    return false;
  }

  /** The stream is closed: no resume after this. */
  stop(): void {
    this.#retry?.cancel();
    this.#retry = null;
  }
}
