import { Samples } from "../metrics/stats.js";
import type { Subject } from "../systems.js";
import { closeMany, connectMany, freshName, loopFor, startCounters, Window, type Metrics } from "./common.js";

export interface KeyValueParams {
  clients: number;
  warmupMs: number;
  durationMs: number;
  /** Distinct keys per client; the get phase reads what the put phase wrote. */
  keysPerClient: number;
  valueBytes: number;
}

export type KvOp = "put" | "get";

/** Plain writes or reads of small values from `clients` clients, one request in flight per client. */
export async function keyValue(target: Subject, op: KvOp, params: KeyValueParams): Promise<Metrics> {
  const { system, server } = target;
  const clients = await connectMany(system, params.clients);
  try {
    const prefix = freshName("kv");
    const value = "v".repeat(params.valueBytes);
    const keys = clients.map((_, client) => Array.from({ length: params.keysPerClient }, (_, key) => `${prefix}:${client}:${key}`));
    // Every key exists before reads are timed, so a get always finds a value.
    await Promise.all(clients.map(async (client, index) => {
      for (const key of keys[index] as string[]) await client.put(key, value);
    }));
    const latency = new Samples();
    let operations = 0;
    let missing = 0;
    let recording = false;
    const counters = clients.map(() => 0);
    const step = async (client: (typeof clients)[number], index: number) => {
      const own = keys[index] as string[];
      const key = own[(counters[index] = ((counters[index] ?? 0) + 1) % own.length)] as string;
      const started = performance.now();
      if (op === "put") await client.put(key, value);
      else if ((await client.get(key)) === undefined) missing++;
      if (!recording) return;
      latency.add(performance.now() - started);
      operations++;
    };
    await loopFor(clients, params.warmupMs, step);
    recording = true;
    const counted = await startCounters(target);
    const window = new Window(server.pid);
    await loopFor(clients, params.durationMs, step);
    const cpu = window.close(operations);
    const ownCounters = await counted(operations);
    const summary = latency.summary();
    return { opsPerS: operations / (cpu.elapsedS as number), p50Ms: summary.p50, p99Ms: summary.p99, ...cpu, ...ownCounters, missing };
  } finally {
    await closeMany(clients);
  }
}
