import { clientSafetyMarginMs, type Clock, type Timer } from "@leasehold/protocol";

/** What the liveness tracker watches: a deadline and what to do when it passes. */
export interface Deadline {
  /** Monotonic ms after which the server may already have ended it. */
  deadline(): number;
  /** The deadline passed without proof of life: give it up. */
  lapse(): void;
}

/**
 * The client's own, conservative view of when its leases may be gone, so that a holder learns of a
 * loss no later than the server could grant the lock to anyone else — also when it hears nothing.
 *
 * `heardAt` is the latest send time (on this client's monotonic clock) of a message the server is
 * known to have received: a request that got its reply, or a pong that a later ping acknowledged.
 * The server's deadline for a kept-alive lease is at least that moment plus the TTL, so the client
 * gives the lease up at `heardAt + ttl - margin`.
 */
export class Liveness {
  #heardAt: number;
  readonly #pongsSentAt = new Map<number, number>();
  readonly #watched = new Set<Deadline>();
  #timer: Timer | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  /** A lapse can read a handle's state, which checks again: the outer check finishes the job. */
  #checking = false;

  constructor(readonly clock: Clock) {
    this.#heardAt = clock.now();
  }

  get heardAt(): number {
    return this.#heardAt;
  }

  /** The server answered something sent at `sentAt`. */
  heard(sentAt: number): void {
    if (sentAt > this.#heardAt) this.#heardAt = sentAt;
  }

  pongSent(seq: number): void {
    this.#pongsSentAt.set(seq, this.clock.now());
  }

  /** A ping acknowledged our pong `ack`: the server heard us at or after the moment we sent it. */
  pongAcknowledged(ack: number): void {
    const sentAt = this.#pongsSentAt.get(ack);
    if (sentAt !== undefined) this.heard(sentAt);
    for (const seq of this.#pongsSentAt.keys()) if (seq <= ack) this.#pongsSentAt.delete(seq);
  }

  /** Deadline of something that lives `ttl` after the last proof of life. */
  keptAliveDeadline(ttl: number): number {
    return this.#heardAt + ttl - clientSafetyMarginMs(ttl);
  }

  /** Deadline of something that lives `ttl` after a renewal sent at `renewedAt`. */
  fixedDeadline(renewedAt: number, ttl: number): number {
    return renewedAt + ttl - clientSafetyMarginMs(ttl);
  }

  watch(item: Deadline): void {
    this.#watched.add(item);
    this.#arm();
  }

  unwatch(item: Deadline): void {
    this.#watched.delete(item);
  }

  /**
   * Gives up everything whose deadline has passed. Called by the timer, and also whenever time may
   * have passed unseen (a page thawed or shown again, the network back or gone, a socket closed):
   * a frozen page's timers fire only after its own code has run again.
   */
  check(): void {
    if (this.#checking) return;
    this.#checking = true;
    try {
      const now = this.clock.now();
      for (const item of [...this.#watched]) {
        // Gone already if an earlier lapse took it along (a lease lapsing ends nothing else today, but cheap to be sure).
        if (!this.#watched.has(item) || item.deadline() > now) continue;
        this.#watched.delete(item);
        item.lapse();
      }
    } finally {
      this.#checking = false;
    }
    this.#arm();
  }

  /**
   * The cheap form of `check()`, before every incoming message and on every read of a handle's
   * state (`lock.held`, `term.leading`, their signals): nothing can be due before the timer's time,
   * so this costs one clock read until then. After a pause (a frozen tab, a suspended process) the
   * first read already sees the loss, before the overdue timer has had a chance to run.
   */
  checkDue(): void {
    if (this.clock.now() >= this.#timerAt) this.check();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#watched.clear();
  }

  /** One timer for all deadlines, set to the earliest; deadlines only move later, so it fires early at worst and re-arms. */
  #arm(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const item of this.#watched) next = Math.min(next, item.deadline());
    if (next === Number.POSITIVE_INFINITY) {
      this.#timer?.cancel();
      this.#timer = null;
      this.#timerAt = next;
      return;
    }
    if (this.#timer && this.#timerAt <= next) return;
    this.#timer?.cancel();
    this.#timerAt = next;
    this.#timer = this.clock.setTimer(next - this.clock.now(), () => {
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.check();
    });
  }
}
