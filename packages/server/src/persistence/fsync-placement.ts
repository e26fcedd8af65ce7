import type { Clock } from "@leasehold/protocol";

/**
 * Where a commit's fsync runs: inline on the event loop, or in libuv's thread pool while the loop goes
 * on. Either way the commit's replies wait for it; only who waits changes.
 *
 * Inline while the disk is fast: an fsync that takes less than the pool's round trip costs less
 * blocking the loop than handing it over (the hop wakes a pool thread and then the loop, and the
 * replies wait for a later turn, so that 16 clients split into two groups that take turns, each commit
 * half the size). In the pool once `SLOW_IN_A_ROW` inline fsyncs in a row were slow: the loop reads and
 * handles the next requests while the disk works. Several in a row, not one: on a loaded machine a
 * fast fsync is now and then timed slow because the thread was preempted (tmpfs here: 1 µs at the
 * median, 3.8 µs at p99, 4 ms at most of 3,000), while on a slow disk nearly every one is (this VM's
 * disk under others' builds: 353 µs at p10, 1.3 ms at the median). Every `probeEveryMs` one fsync
 * runs inline again to measure the disk anew, so that a disk that got fast again is used inline again
 * (on a slow disk that probe blocks the loop for one fsync a second).
 */
export class FsyncPlacement {
  /** Inline fsyncs slower than `inlineMaxMs` since the last fast one. */
  #slowInARow = 0;
  /** When, once fsyncs went to the pool, the next one runs inline again (`clock.now()`). */
  #probeAt = -Infinity;

  constructor(
    readonly clock: Clock,
    readonly inlineMaxMs: number = INLINE_FSYNC_MAX_MS,
    readonly probeEveryMs: number = PROBE_EVERY_MS,
  ) {}

  /** True when the next fsync should run inline. */
  inline(): boolean {
    return this.#slowInARow < SLOW_IN_A_ROW || this.clock.now() >= this.#probeAt;
  }

  /** Runs `fsync` inline and times it; what it throws is thrown. */
  timeInline(fsync: () => void): void {
    const started = this.clock.now();
    fsync();
    const now = this.clock.now();
    if (now - started <= this.inlineMaxMs) {
      this.#slowInARow = 0;
      return;
    }
    this.#slowInARow++;
    if (this.#slowInARow >= SLOW_IN_A_ROW) this.#probeAt = now + this.probeEveryMs;
  }
}

/** Where each fsync runs: "measured" (FsyncPlacement decides), always in the "pool" or always "inline". */
export type FsyncIn = "measured" | "pool" | "inline";

/**
 * The placement that `LEASEHOLD_BENCH_FSYNC_IN` forces, for A/B series only (bench/src/durable-ab.ts
 * `--fsync-in`): "pool" or "inline"; unset, "measured". Not a user's setting: it exists so that one
 * build can be measured with each placement side by side (BENCHMARKS.md, "Durable writes (round 8)").
 */
export function fsyncInFromEnvironment(value: string | undefined = process.env.LEASEHOLD_BENCH_FSYNC_IN): FsyncIn {
  if (value === undefined || value === "" || value === "measured") return "measured";
  if (value === "pool" || value === "inline") return value;
  throw new Error(`LEASEHOLD_BENCH_FSYNC_IN=${value} is not understood: set it to pool, inline or measured (a benchmark's switch), or unset it`);
}

/**
 * The slowest fsync still run inline, ms. About where the two cost the same: an inline fsync blocks the
 * loop for its duration, the pool's round trip cost about 50 µs of CPU per commit on this machine (a
 * commit of 8 puts on tmpfs: 226 against 177 µs) besides the smaller commits it brings. A quiet disk's
 * fsync here took 27 µs (inline), this VM's disk under others' builds 0.35 to 3 ms (the pool).
 */
export const INLINE_FSYNC_MAX_MS = 0.1;
/** How many slow inline fsyncs in a row send the next ones to the pool. */
export const SLOW_IN_A_ROW = 3;
/** How long fsyncs stay in the pool before one runs inline again, ms. */
export const PROBE_EVERY_MS = 1_000;
