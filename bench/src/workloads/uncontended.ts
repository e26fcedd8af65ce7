import { LockMonitor } from "../metrics/lock-monitor.js";
import { Samples } from "../metrics/stats.js";
import type { Subject } from "../systems.js";
import { closeMany, connectMany, freshName, loopFor, startCounters, violations, Window, type Metrics } from "./common.js";

export interface UncontendedParams {
  clients: number;
  warmupMs: number;
  durationMs: number;
  ttlMs: number;
}

/**
 * Each client loops try-acquire + release on a lock of its own: the cost of a lock operation when
 * nobody competes. One pair is one acquire and one release, timed from the acquire call to the
 * release's answer.
 */
export async function uncontended(target: Subject, params: UncontendedParams): Promise<Metrics> {
  const { system, server } = target;
  const clients = await connectMany(system, params.clients);
  try {
    const names = clients.map(() => freshName("uncontended"));
    const monitors = clients.map(() => new LockMonitor(system.fenced));
    const latency = new Samples();
    let pairs = 0;
    let refused = 0;
    let recording = false;
    const pair = async (client: (typeof clients)[number], index: number) => {
      const name = names[index] as string;
      const monitor = monitors[index] as LockMonitor;
      const started = performance.now();
      const result = await client.acquire(name, params.ttlMs, { wait: false });
      if (!result.acquired) {
        if (recording) refused++;
        return;
      }
      monitor.granted(index, result.token, performance.now());
      const release = monitor.releasing(performance.now());
      monitor.released(release, await client.release(name), performance.now());
      if (!recording) return;
      latency.add(performance.now() - started);
      pairs++;
    };
    // The warm-up also grants each client its lease and loads scripts, which are not what we measure.
    await loopFor(clients, params.warmupMs, pair);
    recording = true;
    const counters = await startCounters(target);
    const window = new Window(server.pid);
    await loopFor(clients, params.durationMs, pair);
    const cpu = window.close(pairs);
    const ownCounters = await counters(pairs);
    const summary = latency.summary();
    return {
      pairsPerS: pairs / (cpu.elapsedS as number),
      p50Ms: summary.p50,
      p99Ms: summary.p99,
      ...cpu,
      ...ownCounters,
      refused,
      ...violations(monitors),
    };
  } finally {
    await closeMany(clients);
  }
}
