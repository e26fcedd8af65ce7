/** Small, dependency-free statistics over samples in milliseconds. */

/** A growable list of numbers with an upper bound, so that a long run cannot exhaust memory. */
export class Samples {
  private values: Float64Array;
  private count = 0;
  /** Samples offered after the cap was reached (the first `cap` are kept). */
  dropped = 0;

  constructor(private readonly cap = 2_000_000) {
    this.values = new Float64Array(1_024);
  }

  add(value: number): void {
    if (this.count === this.cap) {
      this.dropped++;
      return;
    }
    if (this.count === this.values.length) {
      const grown = new Float64Array(Math.min(this.cap, this.values.length * 2));
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = value;
  }

  get size(): number {
    return this.count;
  }

  /** Sorted copy of the samples. */
  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort();
  }

  summary(): Summary {
    return summarize(this.sorted());
  }
}

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(sorted: Float64Array): Summary {
  if (sorted.length === 0) return { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] as number,
    mean: sum / sorted.length,
  };
}

/** Nearest-rank quantile of sorted samples. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const middle = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? (finite[middle] as number) : ((finite[middle - 1] as number) + (finite[middle] as number)) / 2;
}

/** Jain's fairness index: 1 when every client got the same share, 1/n when one got everything. */
export function jainIndex(counts: readonly number[]): number {
  if (counts.length === 0) return Number.NaN;
  let sum = 0;
  let squares = 0;
  for (const count of counts) {
    sum += count;
    squares += count * count;
  }
  return squares === 0 ? Number.NaN : (sum * sum) / (counts.length * squares);
}
