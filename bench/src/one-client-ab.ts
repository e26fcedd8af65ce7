import { resolve } from "node:path";
import { cpuMs } from "./infra/procfs.js";
import { startLeasehold } from "./servers/leasehold.js";
import { startRedis } from "./servers/redis.js";
import { makeSystem } from "./systems.js";
import type { LockClient } from "./adapters/types.js";
import { freshName } from "./workloads/common.js";
import { runScript } from "./infra/script.js";
import { toolArgs } from "./infra/args.js";

/**
 * Issue 16's one-client row (uncontended lock pairs, one request in flight: a chain of round trips
 * through client, loopback and server) for server builds side by side with Redis, in windows short
 * enough that every system sees the same swings of a shared machine's load: one client per system
 * (the bench's own adapters), all in this process, the systems taking turns window by window (order
 * reversed every window), 4 warm-up windows left out. Written for BENCHMARKS.md "Lock pairs and the
 * one-client row (round 9)": separate runs of a few seconds each swung 2-4x between runs of one build
 * there, while the per-window ratio to Redis held within a few percent.
 *
 *   node --expose-gc --import tsx bench/src/one-client-ab.ts --a=<old checkout> --b=. [--windows=60]
 *     [--ms=250] [--redis=0] [--nodeflags=--perf-basic-prof (to the servers' node, for perf record)]
 *     [--flags-b=--single-threaded-gc,... (to build b's server only: one checkout with and without a flag)]
 *
 * Each checkout must be built (`npm run build`); the clients are this checkout's. Prints per system
 * pairs/s over all windows, the median window's, server and harness CPU per pair (utime + stime from
 * /proc over the windows), then each build's median per-window ratio to the last system (Redis).
 */
const args = Object.fromEntries(toolArgs());
const windows = Number(args.windows ?? 40);
const windowMs = Number(args.ms ?? 250);
/** Windows run first and left out: the servers' code is optimised meanwhile. */
const WARM_UP_WINDOWS = 4;
const LOCK_TTL_MS = 10_000;

interface Target {
  name: string;
  pid: number;
  client: LockClient;
  lock: string;
  pairs: number;
  ms: number;
  serverCpu: number;
  clientCpu: number;
  perWindow: number[];
}

async function main(): Promise<void> {
  const targets: Target[] = [];
  for (const [name, root] of Object.entries(args).filter(([n]) => /^[a-z]$/.test(n))) {
    const nodeFlags = [args.nodeflags, args[`flags-${name}`]].flatMap((flags) => (flags === undefined ? [] : flags.split(",")));
    const server = await startLeasehold(resolve(root), { kind: "memory" }, 20_000, undefined, nodeFlags);
    targets.push({ name, pid: server.pid, client: await makeSystem("leasehold", server.url).connect(), lock: freshName("one-client"), pairs: 0, ms: 0, serverCpu: 0, clientCpu: 0, perWindow: [] });
  }
  if (args.redis !== "0") {
    const redis = await startRedis(20_000);
    targets.push({ name: "redis", pid: redis.pid, client: await makeSystem("redis", redis.url).connect(), lock: freshName("one-client"), pairs: 0, ms: 0, serverCpu: 0, clientCpu: 0, perWindow: [] });
  }
  for (let window = -WARM_UP_WINDOWS; window < windows; window++) {
    const order = window % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) {
      const serverCpuBefore = cpuMs(target.pid);
      const clientCpuBefore = cpuMs(process.pid);
      const start = performance.now();
      const deadline = start + windowMs;
      let pairs = 0;
      while (performance.now() < deadline) {
        const acquired = await target.client.acquire(target.lock, LOCK_TTL_MS, { wait: false });
        if (!acquired.acquired) throw new Error(`${target.name}: an uncontended try was refused`);
        await target.client.release(target.lock);
        pairs++;
      }
      const elapsedMs = performance.now() - start;
      if (window < 0) continue;
      target.pairs += pairs;
      target.ms += elapsedMs;
      target.serverCpu += cpuMs(target.pid) - serverCpuBefore;
      target.clientCpu += cpuMs(process.pid) - clientCpuBefore;
      target.perWindow.push((pairs * 1000) / elapsedMs);
    }
  }
  for (const target of targets) {
    console.log(
      JSON.stringify({
        name: target.name,
        pairsPerS: Math.round((target.pairs * 1000) / target.ms),
        medianWindowPairsPerS: Math.round(median(target.perWindow)),
        serverCpuUsPerPair: Number(((target.serverCpu * 1000) / target.pairs).toFixed(1)),
        clientCpuUsPerPair: Number(((target.clientCpu * 1000) / target.pairs).toFixed(1)),
        pairs: target.pairs,
      }),
    );
  }
  const reference = targets.at(-1) as Target;
  for (const target of targets.slice(0, -1)) {
    const ratios = target.perWindow.map((pairsPerS, index) => pairsPerS / (reference.perWindow[index] as number));
    console.log(JSON.stringify({ ratio: `${target.name}/${reference.name}`, medianPerWindowRatio: Number(median(ratios).toFixed(3)) }));
  }
  for (const target of targets) await target.client.close();
}

function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
}

runScript(main);
