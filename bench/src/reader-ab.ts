import { resolve } from "node:path";
import { drainOutput, spawnChild, stopAllChildren, waitForLine, type Child } from "./infra/children.js";
import { subject, type Subject } from "./systems.js";
import { keyValue } from "./workloads/key-value.js";
import { uncontended } from "./workloads/uncontended.js";
import { toolArgs } from "./infra/args.js";

/**
 * A/B of server builds on the plain rows (issue 16: uncontended lock pairs and key-value put/get), one
 * request in flight per client, each build a `serve --memory` with the bench's flags, the builds taking
 * turns (order reversed every round). One JSON line per round, build and workload: operations a second
 * and the server's CPU (utime + stime from /proc) per pair, put or get. With `--together=1` the builds run
 * each workload at the same time (each its own clients, all in this process), so that each window
 * compares them under the same load: on a shared machine the load swings more between runs than the builds differ.
 *
 *   node --expose-gc --import tsx bench/src/reader-ab.ts --a=<old checkout> --b=. [--rounds=4] [--ms=3000]
 *     [--clients=16] [--workloads=pairs,put,get] [--together=1] [--prof=<dir> --profile=b (a CPU profile of that build)]
 *
 * Each checkout must be built (`npm run build`); the clients are this checkout's. Written for "Reading
 * frames (round 7)" in BENCHMARKS.md; with `--prof` the profiled server's whole life is in its profile,
 * so profile one workload at a time.
 */
const args = Object.fromEntries(toolArgs());
const rounds = Number(args.rounds ?? 4);
const durationMs = Number(args.ms ?? 3000);
const clients = Number(args.clients ?? 16);
const workloads = (args.workloads ?? "pairs,put,get").split(",") as Workload[];
const builds = Object.entries(args).filter(([name]) => /^[a-z]$/.test(name));
const together = args.together === "1";
type Workload = "pairs" | "put" | "get";

async function main(): Promise<void> {
  const servers: { name: string; child: Child; subject: Subject }[] = [];
  for (const [name, root] of builds) servers.push({ name, ...(await startServer(name, resolve(root))) });
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? servers : [...servers].reverse();
    for (const workload of workloads) {
      // Side by side: every build under the same machine load, in the same window.
      if (together) await Promise.all(order.map(({ name, subject: target }) => measure(round, name, workload, target)));
      else for (const { name, subject: target } of order) await measure(round, name, workload, target);
    }
  }
  for (const { child } of servers) await child.stop(10_000);
}

async function measure(round: number, name: string, workload: Workload, target: Subject): Promise<void> {
  const m =
    workload === "pairs"
      ? await uncontended(target, { clients, warmupMs: 1000, durationMs, ttlMs: 10_000 })
      : await keyValue(target, workload, { clients, warmupMs: 1000, durationMs, keysPerClient: 100, valueBytes: 100 });
  const opsPerS = workload === "pairs" ? m.pairsPerS! : m.opsPerS!;
  console.log(JSON.stringify({ round, build: name, workload, opsPerS: Math.round(opsPerS), serverCpuUsPerOp: Number(m.serverCpuUsPerOp!.toFixed(1)), p50: m.p50Ms?.toFixed(3), violations: (m.exclusionViolations ?? 0) + (m.tokenViolations ?? 0) }));
}

async function startServer(name: string, root: string): Promise<{ child: Child; subject: Subject }> {
  const prof = args.prof !== undefined && name === (args.profile ?? "b") ? ["--cpu-prof", `--cpu-prof-dir=${resolve(args.prof)}`] : [];
  // The bench's flags, and room for the keys every key-value run adds (16 clients x 100 fresh keys each time).
  const flags = ["--host", "127.0.0.1", "--port", "0", "--memory", "--min-ttl", "100", "--max-new-connections-per-second", "1000000", "--max-keys-per-principal", "100000000", "--log-level", "info"];
  const child = spawnChild({ name: `leasehold-${name}`, command: process.execPath, args: [...prof, resolve(root, "packages/server/dist/cli.js"), "serve", ...flags], cwd: root });
  const url = await waitForLine(child, (line) => (line.startsWith("{") ? /"url":"(ws:[^"]+)"/.exec(line)?.[1] : undefined), 30_000);
  drainOutput(child);
  const server = { kind: "leasehold" as const, url, pid: child.pid, description: name, stop: async () => undefined };
  return { child, subject: subject("leasehold", server, name) };
}

main().then(
  async () => {
    await stopAllChildren();
    process.exit(0);
  },
  async (error: unknown) => {
    console.error(error);
    await stopAllChildren();
    process.exit(1);
  },
);
