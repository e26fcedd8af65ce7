import type { LockClient, LockSystem } from "../adapters/types.js";
import { cpuMs } from "../infra/procfs.js";
import type { LockMonitor } from "../metrics/lock-monitor.js";
import type { Subject } from "../systems.js";

/** What every workload returns for one system in one pass: named numbers, plus an optional note. */
export interface Metrics {
  [name: string]: number;
}

/** CPU of this (client) process and of the server process over a measured window. */
export class Window {
  private readonly startedAt = performance.now();
  private readonly clientStart = cpuMs(process.pid);
  private readonly serverStart: number;

  constructor(private readonly serverPid: number) {
    this.serverStart = cpuMs(serverPid);
  }

  /** Elapsed seconds, client and server CPU in ms, and CPU per operation in microseconds. */
  close(operations: number): Metrics {
    const elapsedMs = performance.now() - this.startedAt;
    const clientCpuMs = cpuMs(process.pid) - this.clientStart;
    const serverCpuMs = cpuMs(this.serverPid) - this.serverStart;
    return {
      elapsedS: elapsedMs / 1000,
      clientCpuMs,
      serverCpuMs,
      clientCpuUsPerOp: operations > 0 ? (clientCpuMs * 1000) / operations : Number.NaN,
      serverCpuUsPerOp: operations > 0 ? (serverCpuMs * 1000) / operations : Number.NaN,
    };
  }
}

/**
 * Reads the subject's own counters (`Subject.counters`) now; the function returned reads them again and
 * gives each one's growth per operation as `<name>PerOp`. Nothing for a subject without counters.
 */
export async function startCounters(subject: Subject): Promise<(operations: number) => Promise<Metrics>> {
  const read = subject.counters;
  if (read === undefined) return async () => ({});
  const before = await read();
  return async (operations) => {
    const after = await read();
    return Object.fromEntries(Object.entries(after).map(([name, value]) => [`${name}PerOp`, operations > 0 ? (value - (before[name] ?? 0)) / operations : Number.NaN]));
  };
}

/** Opens `count` clients, at most `concurrency` connects in flight. */
export async function connectMany(system: LockSystem, count: number, concurrency = 64): Promise<LockClient[]> {
  const clients: LockClient[] = [];
  try {
    await inBatches(count, concurrency, async () => {
      clients.push(await withTimeout(system.connect(), 20_000, `${system.name} connect`));
    });
  } catch (error) {
    await closeMany(clients);
    throw error;
  }
  return clients;
}

export async function closeMany(clients: readonly LockClient[], concurrency = 256): Promise<void> {
  let next = 0;
  await inBatches(clients.length, concurrency, async () => {
    const client = clients[next++];
    if (client !== undefined) await withTimeout(client.close(), 10_000, "close").catch(() => undefined);
  });
}

/** Runs `task` `count` times with at most `concurrency` running at once. */
export async function inBatches(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(count, concurrency) }, worker));
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let nameSequence = 0;

/** A lock or key name not used before in this run, so no measurement sees another's leftovers. */
export function freshName(kind: string): string {
  return `bench:${kind}:${process.pid}:${++nameSequence}`;
}

/** Runs `body` for each client until `durationMs` has passed (checked between iterations). */
export async function loopFor(clients: readonly LockClient[], durationMs: number, body: (client: LockClient, index: number) => Promise<void>): Promise<void> {
  const deadline = performance.now() + durationMs;
  await Promise.all(
    clients.map(async (client, index) => {
      while (performance.now() < deadline) await body(client, index);
    }),
  );
}

/** What the lock monitors of a measurement saw: two holders at once, tokens not growing, locks lost before release. */
export function violations(monitors: readonly LockMonitor[]): Metrics {
  let exclusion = 0;
  let tokens = 0;
  let lost = 0;
  for (const monitor of monitors) {
    exclusion += monitor.exclusionViolations;
    tokens += monitor.tokenViolations;
    lost += monitor.lostLocks;
  }
  return { exclusionViolations: exclusion, tokenViolations: tokens, lostLocks: lost };
}
