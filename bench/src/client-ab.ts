import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { resolve } from "node:path";
import { startLeasehold } from "./servers/leasehold.js";
import { startRedis } from "./servers/redis.js";
import type { RunningServer, ServerKind } from "./servers/types.js";
import { subject } from "./systems.js";
import { keyValue } from "./workloads/key-value.js";
import { uncontended } from "./workloads/uncontended.js";
import { closeMany, connectMany, freshName, loopFor, Window, type Metrics } from "./workloads/common.js";
import type { LockClient, SystemName } from "./adapters/types.js";
import { runScript } from "./infra/script.js";
import { toolArgs } from "./infra/args.js";

/**
 * The harness's (the clients') CPU per operation, old client build against new, alternating, beside
 * Redis through ioredis (issue 16, BENCHMARKS.md "The client's CPU (round 7)"): the bench's 16
 * clients run in one process beside the server, so what the client spends per request bounds the
 * uncontended and key-value rows as much as the server's CPU.
 *
 *   node --expose-gc --import tsx bench/src/client-ab.ts --roots=/tmp/old-checkout,. [--rows=u1,u16,put,get]
 *     [--rounds=3] [--warmup-ms=1500] [--ms=2500] [--redis=1] [--prof=<dir> (V8 profile of each window)]
 *
 * One leasehold server (this checkout's build, `serve --memory` with the bench's flags) and one Redis
 * serve every run. Each measurement is a fresh harness process started in a root (so that it loads
 * that root's built client, `packages/client/dist`), running the bench's own workload and adapter
 * (`bench/src/workloads`, `bench/src/adapters`) at the full profile's sizes; roots and Redis take
 * turns, the order reversed every round. One JSON line per run: ops/s (a pair counts once), the
 * harness's and the server's CPU per op from /proc (utime + stime over the window).
 */

const args = toolArgs();
const ROWS = { u1: { kind: "pairs", clients: 1 }, u16: { kind: "pairs", clients: 16 }, put: { kind: "put", clients: 16 }, get: { kind: "get", clients: 16 } } as const;
type Row = keyof typeof ROWS;
const LOCK_TTL_MS = 10_000;

async function main(): Promise<void> {
  if (args.has("child")) return child();
  if (args.has("interleave")) return interleaved();
  const repoRoot = resolve(".");
  const roots = (args.get("roots") ?? ".").split(",").map((root) => resolve(root));
  const rows = (args.get("rows") ?? "u1,u16,put,get").split(",") as Row[];
  const rounds = Number(args.get("rounds") ?? 3);
  const leasehold = await startLeasehold(repoRoot, { kind: "memory" }, 20_000);
  const redis = args.get("redis") === "0" ? undefined : await startRedis(20_000);
  const targets: { label: string; root: string; system: SystemName; server: RunningServer }[] = [
    ...roots.map((root) => ({ label: root, root, system: "leasehold" as const, server: leasehold })),
    ...(redis === undefined ? [] : [{ label: "redis", root: repoRoot, system: "redis" as const, server: redis }]),
  ];
  for (let round = 1; round <= rounds; round++) {
    for (const row of rows) {
      for (const target of round % 2 === 1 ? targets : [...targets].reverse()) {
        const line = execFileSync(
          process.execPath,
          ["--expose-gc", "--import", "tsx", resolve(target.root, "bench/src/client-ab.ts"), "--child=1", `--row=${row}`, `--system=${target.system}`, `--url=${target.server.url}`, `--pid=${target.server.pid}`, `--kind=${target.server.kind}`, ...passOn("warmup-ms", "ms", "prof"), `--label=${round}-${row}-${target.label.replaceAll("/", "_")}`],
          { cwd: target.root, encoding: "utf8" },
        );
        const metrics = JSON.parse(line.trim().split("\n").at(-1) ?? "{}") as Metrics;
        process.stdout.write(`${JSON.stringify({ round, row, system: target.label, ...rounded(metrics) })}\n`);
      }
    }
  }
}

/** One measurement in this process: the row's workload against the given server, the figures as one JSON line. */
async function child(): Promise<void> {
  const row = ROWS[args.get("row") as Row];
  const server: RunningServer = { kind: args.get("kind") as ServerKind, url: args.get("url")!, pid: Number(args.get("pid")), description: "", stop: async () => undefined };
  const target = subject(args.get("system") as SystemName, server);
  const warmupMs = Number(args.get("warmup-ms") ?? 1_500);
  const durationMs = Number(args.get("ms") ?? 2_500);
  const run = () =>
    row.kind === "pairs"
      ? uncontended(target, { clients: row.clients, warmupMs, durationMs, ttlMs: LOCK_TTL_MS })
      : keyValue(target, row.kind, { clients: row.clients, warmupMs, durationMs, keysPerClient: 100, valueBytes: 100 });
  const profileDir = args.get("prof");
  if (profileDir === undefined) {
    const metrics = await run();
    process.stdout.write(`${JSON.stringify({ opsPerS: metrics.pairsPerS ?? metrics.opsPerS, clientCpuUsPerOp: metrics.clientCpuUsPerOp, serverCpuUsPerOp: metrics.serverCpuUsPerOp })}\n`);
    return;
  }
  // Profiled: a first run warms V8 up, the second is sampled (its connects and warm-up included, a small share).
  await run();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  await session.post("Profiler.start");
  const metrics = await run();
  const { profile } = await session.post("Profiler.stop");
  writeFileSync(resolve(profileDir, `${args.get("label")}.cpuprofile`), JSON.stringify(profile));
  session.disconnect();
  process.stdout.write(`${JSON.stringify({ opsPerS: metrics.pairsPerS ?? metrics.opsPerS, clientCpuUsPerOp: metrics.clientCpuUsPerOp, serverCpuUsPerOp: metrics.serverCpuUsPerOp })}\n`);
}

/**
 * `--interleave=K`: every root's clients in this one process at once (each root's adapter imported from
 * that root, so each loads its own built client), connected to the one server, then K short windows per
 * root in turn: on a shared machine the load swings more between runs seconds apart than the builds
 * differ, and alternating windows of `--ms` (default 500) puts both under the same swings. One JSON line
 * per row and root: the medians over the windows.
 */
async function interleaved(): Promise<void> {
  const repoRoot = resolve(".");
  const roots = (args.get("roots") ?? ".").split(",").map((root) => resolve(root));
  const rows = (args.get("rows") ?? "u16,put,get").split(",") as Row[];
  const windows = Number(args.get("interleave"));
  const windowMs = Number(args.get("ms") ?? 500);
  const server = await startLeasehold(repoRoot, { kind: "memory" }, 20_000);
  const variants = await Promise.all(
    roots.map(async (root) => {
      const adapter = (await import(resolve(root, "bench/src/adapters/leasehold.ts"))) as typeof import("./adapters/leasehold.js");
      return { root, system: adapter.leaseholdSystem(server.url) };
    }),
  );
  for (const row of rows) {
    const { kind, clients: count } = ROWS[row];
    const opened = await Promise.all(variants.map(async ({ root, system }) => ({ root, clients: await connectMany(system, count) })));
    const names = Array.from({ length: count }, () => freshName(kind));
    const value = "v".repeat(100);
    const step = async (client: LockClient, index: number): Promise<void> => {
      const name = names[index]!;
      if (kind === "pairs") {
        if ((await client.acquire(name, LOCK_TTL_MS, { wait: false })).acquired) await client.release(name);
      } else if (kind === "put") await client.put(name, value);
      else await client.get(name);
    };
    // Warm-up (and every key written before it is read), then the windows, the roots in turn.
    for (const { clients } of opened) await loopFor(clients, 1_000, async (client, index) => {
      await client.put(names[index]!, value);
      await step(client, index);
    });
    const figures = new Map(opened.map(({ root }) => [root, { ops: [] as number[], client: [] as number[], server: [] as number[] }]));
    for (let turn = 0; turn < windows; turn++) {
      for (const { root, clients } of turn % 2 === 0 ? opened : [...opened].reverse()) {
        let operations = 0;
        const window = new Window(server.pid);
        await loopFor(clients, windowMs, async (client, index) => {
          await step(client, index);
          operations++;
        });
        const cpu = window.close(operations);
        const figure = figures.get(root)!;
        figure.ops.push(operations / cpu.elapsedS!);
        figure.client.push(cpu.clientCpuUsPerOp!);
        figure.server.push(cpu.serverCpuUsPerOp!);
      }
    }
    for (const [root, figure] of figures) {
      process.stdout.write(`${JSON.stringify({ row, system: root, windows, opsPerS: Math.round(median(figure.ops)), clientCpuUsPerOp: tenths(median(figure.client)), serverCpuUsPerOp: tenths(median(figure.server)) })}\n`);
    }
    // Two roots: each turn's windows side by side (the same swing of load), the second root's CPU over the first's.
    const [first, second] = [...figures.values()];
    if (first !== undefined && second !== undefined && figures.size === 2) {
      const ratios = first.client.map((old, turn) => (second.client[turn] as number) / old);
      const serverRatios = first.server.map((old, turn) => (second.server[turn] as number) / old);
      process.stdout.write(`${JSON.stringify({ row, paired: `${roots[1]} / ${roots[0]}`, clientCpuRatio: median(ratios).toFixed(3), lowerIn: `${ratios.filter((ratio) => ratio < 1).length} of ${ratios.length}`, serverCpuRatio: median(serverRatios).toFixed(3) })}\n`);
    }
    for (const { clients } of opened) await closeMany(clients);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** CPU per op to 0.1 µs: a build's lever can be a few per cent of a 15 µs op. */
function tenths(value: number): number {
  return Math.round(value * 10) / 10;
}

function passOn(...names: string[]): string[] {
  return names.flatMap((name) => (args.has(name) ? [`--${name}=${args.get(name)}`] : []));
}

function rounded(metrics: Metrics): Metrics {
  return Object.fromEntries(Object.entries(metrics).map(([name, value]) => [name, Math.round(value)]));
}

runScript(main);
