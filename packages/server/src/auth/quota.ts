import type { Limits } from "@leasehold/protocol";

/**
 * Quotas that keep one client from exhausting the server: a request rate per session and connections
 * per remote address (what each principal holds is counted in accounts.ts). Each is a counter checked
 * in O(1) at the point where the resource is taken; none of them waits, so a client at its limit
 * never holds up anyone else.
 */

/**
 * A token bucket: `capacity` requests at once, refilled at `ratePerSecond`. Time comes from the
 * caller (the server's clock), so that fake time tests it.
 */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;

  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    now: number,
  ) {
    this.#tokens = capacity;
    this.#updatedAt = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * Takes `tokens` more after a `take` (a frame that turned out to cost more): the bucket may go into
   * debt, which the refill pays off before the next `take` succeeds.
   */
  charge(now: number, tokens: number): void {
    this.#refill(now);
    this.#tokens -= tokens;
  }

  /** Tokens left as of the last `take` or `msUntilToken`. */
  get tokens(): number {
    return this.#tokens;
  }

  /** Whether the bucket has refilled completely by `now` (nothing taken recently). */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.capacity;
  }

  /** Milliseconds until one token is available again (0 if one is). */
  msUntilToken(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSecond);
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt;
    this.#updatedAt = now;
    if (elapsed > 0) this.#tokens = Math.min(this.capacity, this.#tokens + (elapsed * this.ratePerSecond) / 1000);
  }
}

/**
 * New connections per remote IP address per second: a token bucket per address, as large as one
 * second's worth. Buckets that have refilled are dropped whenever the table has doubled since the
 * last sweep, so that a peer spreading over many addresses (IPv6) costs a bucket only while it is active.
 */
export class AddressRate {
  readonly #buckets = new Map<string, TokenBucket>();
  #sweepAt = 1_024;

  constructor(readonly perSecond: number) {}

  /** Takes a token for a new connection from `ip`; false when the address is past its rate. */
  take(ip: string, now: number): boolean {
    let bucket = this.#buckets.get(ip);
    if (!bucket) {
      if (this.#buckets.size >= this.#sweepAt) this.#sweep(now);
      bucket = new TokenBucket(this.perSecond, this.perSecond, now);
      this.#buckets.set(ip, bucket);
    }
    return bucket.take(now);
  }

  #sweep(now: number): void {
    for (const [ip, bucket] of this.#buckets) if (bucket.isFull(now)) this.#buckets.delete(ip);
    this.#sweepAt = Math.max(1_024, this.#buckets.size * 2);
  }
}

/**
 * Open connections per remote IP address, counted from the TCP connection (after TLS, under TLS) to
 * the socket's close: connections that never upgrade to a WebSocket count too.
 */
export class AddressQuota {
  readonly #open = new Map<string, number>();

  constructor(readonly limits: Pick<Limits, "maxConnectionsPerAddress">) {}

  /** Counts a new connection from `ip`; false (and nothing counted) when the address is at its limit. */
  tryOpen(ip: string): boolean {
    const open = this.#open.get(ip) ?? 0;
    if (open >= this.limits.maxConnectionsPerAddress) return false;
    this.#open.set(ip, open + 1);
    return true;
  }

  closed(ip: string): void {
    const open = (this.#open.get(ip) ?? 1) - 1;
    if (open <= 0) this.#open.delete(ip);
    else this.#open.set(ip, open);
  }

  count(ip: string): number {
    return this.#open.get(ip) ?? 0;
  }
}
