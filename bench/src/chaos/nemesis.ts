import { RECOVERY_SLACK_MS } from "./checker.js";
import { FAULT_KINDS, sharedNow, type FaultKind, type HistoryWriter } from "./history.js";
import type { Topology } from "./topology/topology.js";
import type { ChaosWorker } from "./workers.js";

/**
 * Injects faults one at a time, each kind in turn (in a shuffled order, reshuffled every round, so
 * that even a one-minute run has every kind), at random targets, for random durations, and records
 * each fault's start and heal. After each heal it waits longer than the checker's recovery window
 * (TTL + 1 s) before the next fault, so that every heal is checked for availability on its own.
 */
export class Nemesis {
  #faults = 0;
  #round: FaultKind[] = [];

  constructor(
    readonly topology: Topology,
    readonly workers: readonly ChaosWorker[],
    readonly ttlMs: number,
    readonly history: HistoryWriter,
    readonly random: () => number,
    /** Called after each heal (the runner reads the state there). */
    readonly afterHeal: () => Promise<void>,
  ) {}

  /** Injects faults until `untilAt` (shared time); every fault is healed when it returns. */
  async run(untilAt: number): Promise<void> {
    while (sharedNow() < untilAt) {
      await this.#inject(this.#nextKind());
      await this.afterHeal();
      // Quiet until the heal's recovery window has closed, then a little more, at random.
      await sleep(this.ttlMs + RECOVERY_SLACK_MS + 200 + this.random() * 1_000);
    }
  }

  #nextKind(): FaultKind {
    if (this.#round.length === 0) this.#round = shuffle([...FAULT_KINDS], this.random);
    return this.#round.pop()!;
  }

  async #inject(kind: FaultKind): Promise<void> {
    const fault = ++this.#faults;
    const record = (phase: "start" | "heal", target: string, role?: string) =>
      this.history.write({ type: "fault", phase, fault, kind, target, ...(role !== undefined && { role }), at: sharedNow() });
    switch (kind) {
      case "kill-member": {
        const member = this.topology.pick(this.random);
        record("start", member.name, member.role);
        await member.kill();
        // Down for up to one TTL: shorter than the TTL, holders resume with their locks; longer, they lose them.
        await sleep(this.random() * this.ttlMs);
        await member.restart();
        record("heal", member.name);
        return;
      }
      case "pause-member":
        return this.#hold(record, this.topology.pick(this.random), (member) => member.pause(), (member) => member.resume(), [0.25, 2.5]);
      case "pause-worker":
        return this.#hold(record, this.#pick(this.workers), (worker) => worker.pause(), (worker) => worker.resume(), [0.25, 3]);
      case "cut-worker":
        return this.#hold(record, this.#pick(this.workers), (worker) => worker.cut(), (worker) => worker.restore(), [0.1, 2]);
      case "blackhole-worker":
        return this.#hold(record, this.#pick(this.workers), (worker) => worker.blackhole(), (worker) => worker.restore(), [0.25, 2]);
    }
  }

  /** Applies a fault to `target`, keeps it for a random time between `ttls[0]` and `ttls[1]` TTLs, and heals it. */
  async #hold<T extends { readonly name: string; readonly role?: string }>(
    record: (phase: "start" | "heal", target: string, role?: string) => void,
    target: T,
    apply: (target: T) => void,
    heal: (target: T) => void,
    [fromTtls, toTtls]: [number, number],
  ): Promise<void> {
    record("start", target.name, target.role);
    apply(target);
    await sleep(this.ttlMs * (fromTtls + this.random() * (toTtls - fromTtls)));
    heal(target);
    record("heal", target.name);
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }
}

/** Shuffles `items` in place (Fisher-Yates) with `random`, and returns them. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
