import { resolve } from "node:path";
import { stopAllChildren } from "./infra/children.js";
import { cpuMs, mainThreadCpuMs } from "./infra/procfs.js";
import { startLeasehold, type Storage } from "./servers/leasehold.js";
import { removeAllTempDirs } from "./servers/tempdir.js";
import type { RunningServer } from "./servers/types.js";
import { inPassOrder, subject, type Subject } from "./systems.js";
import { keyValue } from "./workloads/key-value.js";
import { uncontended } from "./workloads/uncontended.js";
import { toolArgs } from "./infra/args.js";

/**
 * A/B of durable server builds on the durable row's workloads (issue 16; BENCHMARKS.md, "Durable writes
 * (round 7)"), apart from the full bench, which also runs Redis and etcd:
 *
 *   TMPDIR=/dev/shm node --expose-gc --import tsx bench/src/durable-ab.ts --roots=/work/wt/old-copy,.
 *     [--passes=4] [--ms=2000] [--warmup-ms=500] [--clients=16] [--workload=put|pairs] [--memory=1]
 *     [--sync=full|process] [--prof=DIR] [--fsync-in=measured,pool,inline]
 *
 * Each root is a checkout with a built server (`npm run build`); its durable server keeps its data in a
 * fresh directory under TMPDIR (so `TMPDIR=/dev/shm` measures tmpfs, where an fsync costs nothing, and
 * the default /tmp the real disk). With `--memory=1` the last root's `--memory` server runs too, for the
 * ratio. All servers run side by side for the whole series; the order reverses every pass. One JSON
 * line per server and pass: ops/s, p50, server CPU per op (all threads, from /proc), commits per op and
 * the mean commit (`leasehold_storage_commit_duration_seconds`), and the main thread's share of the
 * CPU (the rest: V8's GC threads and libuv's pool, where the fsyncs run).
 *
 * `--fsync-in` runs the last root's durable server once per placement listed, the fsyncs forced into
 * the pool or inline (or "measured": the server's own choice), instead of once per root.
 */
const args = toolArgs();
const roots = (args.get("roots") ?? ".").split(",").map((root) => resolve(root));
const passes = Number(args.get("passes") ?? 4);
const durationMs = Number(args.get("ms") ?? 2_000);
const warmupMs = Number(args.get("warmup-ms") ?? 500);
const clients = Number(args.get("clients") ?? 16);
const workload = args.get("workload") ?? "put";
const withMemory = args.get("memory") !== "0";
const sync = args.get("sync") === "process" ? "process" : undefined;
const profileDir = args.get("prof");
const placements = args.get("fsync-in")?.split(",");
const FILE_LIMIT = 20_000;

async function main(): Promise<void> {
  const targets: Subject[] = [];
  const servers: RunningServer[] = [];
  const start = async (root: string, storage: Storage, label: string) => {
    // A V8 CPU profile of the server's whole life, written when it stops (startup and warm-up are small beside the passes).
    const profile = profileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-interval", "200", `--cpu-prof-dir=${resolve(profileDir)}`];
    const server = await startLeasehold(root, storage, FILE_LIMIT, undefined, profile);
    servers.push(server);
    targets.push({ ...subject("leasehold", server, label), counters: () => commitCounters(server) });
  };
  try {
    if (placements === undefined) for (const root of roots) await start(root, { kind: "durable", sync }, root);
    else for (const placement of placements) await start(roots.at(-1) as string, { kind: "durable", sync, ...forcedPlacement(placement) }, placement);
    if (withMemory) await start(roots.at(-1) as string, { kind: "memory" }, "memory");
    for (let pass = 1; pass <= passes; pass++) {
      for (const target of inPassOrder(targets, pass)) {
        const pid = target.server.pid;
        const [allBefore, mainBefore] = [cpuMs(pid), mainThreadCpuMs(pid)];
        const measured =
          workload === "pairs"
            ? await uncontended(target, { clients, warmupMs, durationMs, ttlMs: 10_000 })
            : await keyValue(target, "put", { clients, warmupMs, durationMs, keysPerClient: 100, valueBytes: 100 });
        const mainShare = (mainThreadCpuMs(pid) - mainBefore) / (cpuMs(pid) - allBefore);
        const ops = workload === "pairs" ? (measured.pairsPerS as number) : (measured.opsPerS as number);
        const commitsPerOp = measured.commitsPerOp ?? Number.NaN;
        process.stdout.write(
          `${JSON.stringify({
            pass,
            server: target.label,
            opsPerS: Math.round(ops),
            p50Ms: Number((measured.p50Ms as number).toFixed(3)),
            cpuUsPerOp: Number((measured.serverCpuUsPerOp as number).toFixed(1)),
            opsPerCommit: Number((1 / commitsPerOp).toFixed(2)),
            commitMs: Number((((measured.commitSecondsPerOp ?? Number.NaN) / commitsPerOp) * 1_000).toFixed(3)),
            mainShare: Number(mainShare.toFixed(3)),
          })}\n`,
        );
      }
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

function forcedPlacement(placement: string): { fsyncIn?: "pool" | "inline" } {
  if (placement === "pool" || placement === "inline") return { fsyncIn: placement };
  if (placement === "measured") return {};
  throw new Error(`--fsync-in=${placement} is not understood: list measured, pool or inline, comma-separated`);
}

/** The server's commits so far and their summed duration, from its `/metrics` (auth is off: open). */
async function commitCounters(server: RunningServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url.replace(/^ws/, "http")}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name}\\{outcome="ok"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return { commits: read("leasehold_storage_commit_duration_seconds_count"), commitSeconds: read("leasehold_storage_commit_duration_seconds_sum") };
}

main().then(
  async () => {
    await stopAllChildren();
    removeAllTempDirs();
    process.exit(0);
  },
  async (error: unknown) => {
    console.error(error);
    await stopAllChildren();
    removeAllTempDirs();
    process.exit(1);
  },
);
