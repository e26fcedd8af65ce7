/**
 * Reconnect delay with "full jitter": a random delay between 0 and an exponentially growing cap,
 * so that many clients cut off together do not come back together.
 */
export function fullJitterDelay(attempt: number, baseMs = 100, maxMs = 5_000, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}
