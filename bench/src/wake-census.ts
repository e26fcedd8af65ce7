import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { CLOCK_TICKS } from "./infra/procfs.js";
import { startLeasehold } from "./servers/leasehold.js";
import { startRedis } from "./servers/redis.js";
import { makeSystem } from "./systems.js";
import { freshName } from "./workloads/common.js";
import { runScript } from "./infra/script.js";
import { toolArgs } from "./infra/args.js";

/**
 * Per wake-up costs of the one-client row (BENCHMARKS.md "The one-client row: per wake-up costs (round 11)"):
 * one client of one system looping uncontended lock pairs, and for the server's process and this (the
 * harness's) process, per pair over a measured window: CPU and context switches of each thread, by thread name.
 *
 *   node --expose-gc --import tsx bench/src/wake-census.ts --system=leasehold|redis [--root=.] [--warmup-s=3]
 *     [--s=10] [--nodeflags=--single-threaded-gc,...] [--pids=<file>]
 *
 * `--pids` writes "<server pid> <harness pid>" to a file once warmed up, so that `strace -f -c -p` or
 * `perf record -p` can be attached for the window from a shell.
 */
const args = Object.fromEntries(toolArgs());
const LOCK_TTL_MS = 10_000;

interface ThreadSample {
  name: string;
  cpuMs: number;
  voluntary: number;
  involuntary: number;
}

function threads(pid: number): Map<number, ThreadSample> {
  const result = new Map<number, ThreadSample>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      result.set(Number(tid), {
        name: Number(tid) === pid ? "main" : name,
        cpuMs: ((Number(rest[11]) + Number(rest[12])) * 1000) / CLOCK_TICKS,
        voluntary: Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1]),
        involuntary: Number(/^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1]),
      });
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return result;
}

function perPair(before: Map<number, ThreadSample>, after: Map<number, ThreadSample>, pairs: number): Record<string, string> {
  const byName = new Map<string, { cpuMs: number; voluntary: number; involuntary: number }>();
  for (const [tid, end] of after) {
    const start = before.get(tid) ?? { cpuMs: 0, voluntary: 0, involuntary: 0 };
    const sum = byName.get(end.name) ?? { cpuMs: 0, voluntary: 0, involuntary: 0 };
    sum.cpuMs += end.cpuMs - start.cpuMs;
    sum.voluntary += end.voluntary - start.voluntary;
    sum.involuntary += end.involuntary - start.involuntary;
    byName.set(end.name, sum);
  }
  const rows: Record<string, string> = {};
  for (const [name, sum] of byName) {
    if (sum.cpuMs === 0 && sum.voluntary === 0 && sum.involuntary === 0) continue;
    rows[name] = `${((sum.cpuMs * 1000) / pairs).toFixed(1)} us, ${(sum.voluntary / pairs).toFixed(3)} vol, ${(sum.involuntary / pairs).toFixed(3)} invol`;
  }
  return rows;
}

async function main(): Promise<void> {
  const system = args.system ?? "leasehold";
  const nodeFlags = args.nodeflags === undefined ? [] : args.nodeflags.split(",");
  const server = system === "redis" ? await startRedis(20_000) : await startLeasehold(resolve(args.root ?? "."), { kind: "memory" }, 20_000, undefined, nodeFlags);
  const client = await makeSystem(system === "redis" ? "redis" : "leasehold", server.url).connect();
  const lock = freshName("wake-census");
  const loop = async (ms: number): Promise<number> => {
    const deadline = performance.now() + ms;
    let pairs = 0;
    while (performance.now() < deadline) {
      const acquired = await client.acquire(lock, LOCK_TTL_MS, { wait: false });
      if (!acquired.acquired) throw new Error("an uncontended try was refused");
      await client.release(lock);
      pairs++;
    }
    return pairs;
  };
  await loop(Number(args["warmup-s"] ?? 3) * 1000);
  if (args.pids !== undefined) writeFileSync(args.pids, `${server.pid} ${process.pid}\n`);
  const serverBefore = threads(server.pid);
  const harnessBefore = threads(process.pid);
  const start = performance.now();
  const pairs = await loop(Number(args.s ?? 10) * 1000);
  const elapsedMs = performance.now() - start;
  const serverAfter = threads(server.pid);
  const harnessAfter = threads(process.pid);
  console.log(JSON.stringify({ system, pairsPerS: Math.round((pairs * 1000) / elapsedMs), pairs }));
  console.log(JSON.stringify({ server: perPair(serverBefore, serverAfter, pairs) }, null, 1));
  console.log(JSON.stringify({ harness: perPair(harnessBefore, harnessAfter, pairs) }, null, 1));
  await client.close();
  await server.stop();
}

runScript(main);
