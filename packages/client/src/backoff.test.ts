import { describe, expect, it } from "vitest";
import { fullJitterDelay } from "./backoff.js";

/** The largest value `Math.random()` can return. */
const ALMOST_ONE = 1 - Number.EPSILON / 2;

describe("fullJitterDelay", () => {
  it("grows its cap as base * 2^attempt until it reaches the maximum", () => {
    const base = 100;
    const max = 5_000;
    for (let attempt = 0; attempt <= 12; attempt++) {
      const cap = Math.min(max, base * 2 ** attempt);
      // random() < 1, so the delay stays strictly below the cap, and reaches cap - 1 at the top.
      expect(fullJitterDelay(attempt, base, max, () => ALMOST_ONE), `attempt ${attempt}`).toBe(cap - 1);
      expect(fullJitterDelay(attempt, base, max, () => 0), `attempt ${attempt}`).toBe(0);
      expect(fullJitterDelay(attempt, base, max, () => 0.5), `attempt ${attempt}`).toBe(Math.floor(cap / 2));
    }
  });

  it("uses the defaults of 100 ms base and 5 s maximum", () => {
    expect(fullJitterDelay(0, undefined, undefined, () => ALMOST_ONE)).toBe(99);
    expect(fullJitterDelay(3, undefined, undefined, () => ALMOST_ONE)).toBe(799);
    expect(fullJitterDelay(6, undefined, undefined, () => ALMOST_ONE)).toBe(4_999);
  });

  it("stays finite and capped for absurd attempt counts", () => {
    for (const attempt of [31, 64, 1_000, 1e9, Number.MAX_SAFE_INTEGER]) {
      const top = fullJitterDelay(attempt, 100, 5_000, () => ALMOST_ONE);
      expect(Number.isFinite(top), `attempt ${attempt}`).toBe(true);
      expect(top, `attempt ${attempt}`).toBe(4_999);
    }
    // Even with no maximum, the exponent stops at 30: the delay never becomes Infinity or NaN.
    const unbounded = fullJitterDelay(1_000, 1, Number.POSITIVE_INFINITY, () => ALMOST_ONE);
    expect(unbounded).toBe(2 ** 30 - 1);
  });

  it("always returns a whole number in [0, cap) with Math.random, spread across the range", () => {
    for (const attempt of [0, 1, 2, 5, 10]) {
      const cap = Math.min(5_000, 100 * 2 ** attempt);
      const samples = Array.from({ length: 2_000 }, () => fullJitterDelay(attempt));
      const outside = samples.filter((delay) => !Number.isInteger(delay) || delay < 0 || delay >= cap);
      expect(outside, `attempt ${attempt}`).toEqual([]);
      // Full jitter: the whole range is used, not just the top (2,000 draws make a miss astronomically unlikely).
      expect(Math.min(...samples)).toBeLessThan(cap * 0.1);
      expect(Math.max(...samples)).toBeGreaterThan(cap * 0.9);
    }
  });
});
