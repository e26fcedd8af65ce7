import type { Calls } from "./calls.js";

/**
 * `client.counters`: named integers that change atomically on the server. A counter never set reads
 * 0. Values stay within ±Number.MAX_SAFE_INTEGER: a change that would leave the range is refused
 * (ConflictError with code COUNTER_OVERFLOW) and changes nothing. Counters are their own namespace,
 * apart from keys.
 */
export class Counters {
  constructor(readonly calls: Calls) {}

  /** Adds `delta` (default 1, may be negative) and returns the new value. */
  async increment(name: string, delta = 1): Promise<number> {
    return (await this.calls.call("counter.add", { name, delta }).result).value;
  }

  /** Subtracts `delta` (default 1) and returns the new value. */
  decrement(name: string, delta = 1): Promise<number> {
    return this.increment(name, -delta);
  }

  async get(name: string): Promise<number> {
    return (await this.calls.call("counter.get", { name }).result).value;
  }

  async set(name: string, value: number): Promise<{ revision: number }> {
    return { revision: (await this.calls.call("counter.set", { name, value }).result).revision };
  }

  /** Sets `value` only if the counter is `expect` now; true if it did. */
  async compareAndSet(name: string, expect: number, value: number): Promise<boolean> {
    return (await this.calls.call("counter.cas", { name, expect, value }).result).ok;
  }
}
