/**
 * Time, injected. Lease deadlines, heartbeats, waits and reconnect backoff read the time and set
 * timers only through this interface, so that tests can drive them with `FakeClock`.
 * `now()` is monotonic milliseconds (never the wall clock, which can jump); `wallNow()` is the wall
 * clock, for the few times that must mean the same after a restart (a wait's expiry kept in storage,
 * a session's start).
 */
export interface Clock {
  now(): number;
  /** Milliseconds since the Unix epoch, as `Date.now()`. */
  wallNow(): number;
  setTimer(delayMs: number, callback: () => void): Timer;
}

export interface Timer {
  cancel(): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(delayMs, callback) {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    // Timers of a server or client never keep a Node process alive on their own.
    (handle as { unref?: () => void }).unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** A clock that moves only when told to, firing due timers in deadline order. For tests. */
type FakeTimer = { at: number; seq: number; callback: () => void; cancelled: boolean };

export class FakeClock implements Clock {
  #now: number;
  /** Wall-clock time minus monotonic time: both move together. */
  readonly #wallOffset: number;
  #timers: FakeTimer[] = [];
  #seq = 0;

  /** `start` is the monotonic time; `wallStart` the wall-clock time at that moment (by default the same number). */
  constructor(start = 0, wallStart = start) {
    this.#now = start;
    this.#wallOffset = wallStart - start;
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#now + this.#wallOffset;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const timer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, callback, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#nextDue(end);
      if (next === undefined) break;
      // Never back: after a jump, overdue timers fire at the time it is now, not at their deadlines.
      this.#now = Math.max(this.#now, next.at);
      next.cancelled = true;
      next.callback();
    }
    this.#now = end;
  }

  /**
   * Moves time forward by `ms` without firing anything: a process or a frozen page waking up, whose
   * overdue timers run only after whatever it does first. `advance(0)` then fires them.
   */
  jump(ms: number): void {
    this.#now += ms;
  }

  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.filter((timer) => !timer.cancelled).length;
  }

  #nextDue(end: number) {
    this.#timers = this.#timers.filter((timer) => !timer.cancelled);
    let next: FakeTimer | undefined;
    for (const timer of this.#timers) {
      if (timer.at <= end && (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) next = timer;
    }
    return next;
  }
}
