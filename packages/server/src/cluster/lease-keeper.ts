import type { Clock, Timer } from "@leasehold/protocol";

/**
 * Keeps one etcd lease alive and knows until when it is surely alive. etcd renews a lease for its TTL
 * from the moment its leader handles the keepalive, which is after we sent it; so the lease cannot
 * lapse before `send time of the last acknowledged keepalive + TTL`. That instant, less a small
 * margin, is the deadline: past it another gateway may hold the election, and the holder of this
 * lease must not act. Counting from the answer's arrival instead would be wrong by the whole round
 * trip, and by any pause in between (a SIGSTOP, a starved CPU): the answer may be read long after etcd
 * sent it. The same "loss told first" rule as a client's lease (PROTOCOL.md).
 *
 * One keepalive at a time, every TTL/3 from the last send (as etcd's Go client does); a failed one
 * is tried again after TTL/10. Loss is final: once lost, campaign again with a new lease.
 */
export class LeaseKeeper {
  #deadline: number;
  #lost: string | undefined;
  #stopped = false;
  #next: Timer | undefined;
  #expiry: Timer | undefined;

  constructor(
    readonly lease: string,
    readonly ttlMs: number,
    /** When the grant request was sent: the lease lives at least until then + TTL. */
    grantSentAt: number,
    readonly keepAlive: (lease: string) => Promise<number>,
    readonly clock: Clock,
    readonly marginMs: number,
    /** Called once, when the lease is lost (never after `stop`). */
    readonly onLost: (reason: string) => void,
  ) {
    this.#deadline = grantSentAt + ttlMs - marginMs;
    this.#armExpiry();
    this.#schedule(grantSentAt + ttlMs / 3);
  }

  /** Monotonic ms (of `clock`) before which the lease is surely alive in etcd. */
  get deadline(): number {
    return this.#deadline;
  }

  /** Why it was lost, or undefined. Reads the clock, so a process woken from a pause sees the truth before any timer runs. */
  get lost(): string | undefined {
    if (this.#lost === undefined && !this.#stopped && this.clock.now() >= this.#deadline) this.#lose(this.#lapsed());
    return this.#lost;
  }

  stop(): void {
    this.#stopped = true;
    this.#next?.cancel();
    this.#expiry?.cancel();
  }

  #schedule(at: number): void {
    this.#next?.cancel();
    this.#next = this.clock.setTimer(at - this.clock.now(), () => void this.#send());
  }

  async #send(): Promise<void> {
    if (this.#stopped || this.lost !== undefined) return;
    const sentAt = this.clock.now();
    let ttlSeconds: number;
    try {
      ttlSeconds = await this.keepAlive(this.lease);
    } catch {
      if (!this.#stopped && this.lost === undefined) this.#schedule(this.clock.now() + this.ttlMs / 10);
      return;
    }
    if (this.#stopped || this.lost !== undefined) return;
    if (ttlSeconds <= 0) {
      this.#lose("the election lease expired or was revoked in etcd");
      return;
    }
    this.#deadline = Math.max(this.#deadline, sentAt + ttlSeconds * 1_000 - this.marginMs);
    this.#armExpiry();
    if (this.lost !== undefined) return;
    this.#schedule(sentAt + this.ttlMs / 3);
  }

  #armExpiry(): void {
    this.#expiry?.cancel();
    this.#expiry = this.clock.setTimer(this.#deadline - this.clock.now(), () => void this.lost);
  }

  #lapsed(): string {
    return `no keepalive of the election lease was acknowledged within its TTL (${this.ttlMs} ms): etcd is unreachable, has no quorum, or this process was paused`;
  }

  #lose(reason: string): void {
    if (this.#lost !== undefined || this.#stopped) return;
    this.#lost = reason;
    this.#next?.cancel();
    this.#expiry?.cancel();
    this.onLost(reason);
  }
}
