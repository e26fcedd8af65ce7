import { jainIndex, Samples } from "./stats.js";

/**
 * What a loop of work cycles (acquire, a few writes, release) did per client: cycles completed, the
 * latency of each whole cycle and of its acquire's wait, and fenced writes refused.
 */
export class CycleTally {
  readonly cycle = new Samples();
  readonly wait = new Samples();
  private readonly perClient: number[];
  /** Fenced writes the server refused (the lock was no longer held with that token). */
  refused = 0;

  constructor(clients: number) {
    this.perClient = Array.from({ length: clients }, () => 0);
  }

  /** A cycle that completed: `cycleMs` from the acquire call to the release's reply, `waitMs` to the grant. */
  completed(client: number, cycleMs: number, waitMs: number): void {
    this.perClient[client] = (this.perClient[client] ?? 0) + 1;
    this.cycle.add(cycleMs);
    this.wait.add(waitMs);
  }

  get cycles(): number {
    return this.cycle.size;
  }

  summary(): CycleSummary {
    const cycle = this.cycle.summary();
    const wait = this.wait.summary();
    const mean = this.cycles / this.perClient.length;
    return {
      cycleP50Ms: cycle.p50,
      cycleP99Ms: cycle.p99,
      waitP50Ms: wait.p50,
      waitP99Ms: wait.p99,
      jain: jainIndex(this.perClient),
      // Jain's index hides one starved client among many: at 100 clients, one with nothing still scores 0.99.
      fewestCyclesShare: mean > 0 ? Math.min(...this.perClient) / mean : Number.NaN,
      fenceRefused: this.refused,
    };
  }
}

export interface CycleSummary {
  cycleP50Ms: number;
  cycleP99Ms: number;
  waitP50Ms: number;
  waitP99Ms: number;
  /** Jain's index over the clients' cycle counts: 1 when all did as many, 1/n when one did all. */
  jain: number;
  /** The fewest cycles any client completed, over the mean: 0 when a client was starved. */
  fewestCyclesShare: number;
  fenceRefused: number;
  [name: string]: number;
}
