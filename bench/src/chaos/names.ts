/** What a chaos run names: its locks, and per lock the two keys its holders write and the counter they increment. */

export function lockNames(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `chaos-${index}`);
}

/** The two keys each holder of `lock` writes, fenced by its token, in this order. */
export function keysOf(lock: string): readonly [string, string] {
  return [`chaos/${lock}/first`, `chaos/${lock}/second`];
}

/** The counter each holder of `lock` increments once. */
export function counterOf(lock: string): string {
  return `chaos/${lock}`;
}
