/** The reconnect backoff's constants and its random source, injected so that tests can fix them. */
export interface Backoff {
  /** The cap of the first attempt's delay; it doubles at each further attempt. */
  readonly baseMs: number;
  /** The largest cap. */
  readonly maxMs: number;
  /** A number in [0, 1). */
  readonly random: () => number;
}

/** 100 ms doubling to 5 s: a restarted server sees its clients come back spread over the first seconds. */
export const DEFAULT_BACKOFF: Backoff = {
  baseMs: 100,
  maxMs: 5_000,
  // Looked up at each call, not captured: tests replace Math.random.
  random: () => Math.random(),
};

/**
 * Reconnect delay with "full jitter": a random delay between 0 and an exponentially growing cap,
 * so that many clients cut off together do not come back together.
 */
export function fullJitterDelay(attempt: number, baseMs = DEFAULT_BACKOFF.baseMs, maxMs = DEFAULT_BACKOFF.maxMs, random: () => number = DEFAULT_BACKOFF.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** `fullJitterDelay` with a `Backoff`'s constants. */
export function backoffDelay(attempt: number, backoff: Backoff): number {
  return fullJitterDelay(attempt, backoff.baseMs, backoff.maxMs, backoff.random);
}
