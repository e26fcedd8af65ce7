import { setMaxListeners } from "node:events";
import type { LockClient } from "../adapters/types.js";
import { LockMonitor } from "../metrics/lock-monitor.js";
import { jainIndex, Samples } from "../metrics/stats.js";
import type { Subject } from "../systems.js";
import { closeMany, connectMany, freshName, startCounters, violations, Window, type Metrics } from "./common.js";

export interface ContendedParams {
  clients: number;
  warmupMs: number;
  durationMs: number;
  ttlMs: number;
}

/**
 * Every client queues for the same lock, holds it for 0 ms and queues again: how fast and how fairly
 * the lock moves from one client to the next.
 */
export async function contended(target: Subject, params: ContendedParams): Promise<Metrics> {
  const { system, server } = target;
  const clients = await connectMany(system, params.clients);
  try {
    const name = freshName("contended");
    await runRound(clients, name, params.warmupMs, params.ttlMs, new LockMonitor(system.fenced), new Samples(), []);
    const monitor = new LockMonitor(system.fenced);
    const waits = new Samples();
    const perClient = clients.map(() => 0);
    const counters = await startCounters(target);
    const window = new Window(server.pid);
    await runRound(clients, name, params.durationMs, params.ttlMs, monitor, waits, perClient);
    // Grants that crossed the window's end are checked for safety but not counted.
    const grants = perClient.reduce((sum, count) => sum + count, 0);
    const cpu = window.close(grants);
    const ownCounters = await counters(grants);
    const handoff = monitor.handoff.summary();
    const fromCall = monitor.handoffFromCall.summary();
    return {
      grantsPerS: grants / (cpu.elapsedS as number),
      otherClientShare: monitor.otherClientShare,
      handoffP50Ms: handoff.p50,
      handoffP99Ms: handoff.p99,
      handoffFromCallP50Ms: fromCall.p50,
      handoffFromCallP99Ms: fromCall.p99,
      longestWaitMs: waits.summary().max,
      waitP99Ms: waits.summary().p99,
      jain: jainIndex(perClient),
      ...cpu,
      ...ownCounters,
      ...violations([monitor]),
    };
  } finally {
    await closeMany(clients);
  }
}

/** All clients loop waiting-acquire + release on `name` for `durationMs`, then their waits are withdrawn. */
async function runRound(
  clients: readonly LockClient[],
  name: string,
  durationMs: number,
  ttlMs: number,
  monitor: LockMonitor,
  waits: Samples,
  perClient: number[],
): Promise<void> {
  const stop = new AbortController();
  // Every waiter listens on this one signal.
  setMaxListeners(Number.POSITIVE_INFINITY, stop.signal);
  const timer = setTimeout(() => stop.abort(), durationMs);
  try {
    await Promise.all(
      clients.map(async (client, index) => {
        while (!stop.signal.aborted) {
          const asked = performance.now();
          const result = await client.acquire(name, ttlMs, { wait: true, signal: stop.signal });
          if (!result.acquired) return;
          const now = performance.now();
          monitor.granted(index, result.token, now);
          if (!stop.signal.aborted) {
            waits.add(now - asked);
            perClient[index] = (perClient[index] ?? 0) + 1;
          }
          const release = monitor.releasing(performance.now());
          monitor.released(release, await client.release(name), performance.now());
        }
      }),
    );
  } finally {
    clearTimeout(timer);
    monitor.reset();
  }
}
