import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { killAllChildrenNow, stopAllChildren } from "./infra/children.js";
import { startLeaseholdCluster } from "./servers/cluster.js";
import { removeAllTempDirs } from "./servers/tempdir.js";
import { subject } from "./systems.js";
import { contended } from "./workloads/contended.js";
import { failover } from "./workloads/failover.js";
import { uncontended } from "./workloads/uncontended.js";
import { toolArgs } from "./infra/args.js";

/**
 * `node --expose-gc --import tsx bench/src/failover-stress.ts [--rounds=5] [--traffic-ms=10000] [--kills=3] [--max-ms=30000]`
 * (after `npm run build`): the failover row in a loop, as the full benchmark runs it, after heavy
 * traffic. Each round runs lock pairs and contended grants (16 clients, `traffic-ms` each) through the
 * leader and through a follower, which grows the log and makes the leader snapshot and compact etcd's
 * history, then `kills` failovers; it stops at the first failed one, whose explanation the row prints
 * (each gateway's last lines, etcd's election keys). Not part of `npm run bench`: minutes per round.
 * It found the failover that never ended (a campaign's watch cancelled by etcd for compaction, and a
 * gateway relaying to itself) in its third round; `--max-ms=1` shows what a failure prints.
 */
const repoRoot = resolve(fileURLToPath(import.meta.url), "../../..");
const args = toolArgs();
const rounds = Number(args.get("rounds") ?? 5);
const trafficMs = Number(args.get("traffic-ms") ?? 10_000);
const kills = Number(args.get("kills") ?? 3);
const maxMs = Number(args.get("max-ms") ?? 30_000);
const started = performance.now();
const log = (line: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
process.on("exit", killAllChildrenNow);
// A signal ends the process without "exit": stop the children first.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

const cluster = await startLeaseholdCluster(repoRoot, { etcd: { size: 3 }, gateways: 3, electionTtlS: 2, cli: "built" });
let failed = 0;
try {
  for (let round = 1; round <= rounds; round++) {
    if (trafficMs > 0) {
      const leader = await cluster.leader();
      const follower = cluster.gateways.find((gateway) => gateway !== leader)!;
      for (const dialled of [leader, follower]) {
        const target = subject("leasehold", { kind: "leasehold", url: dialled.url, pid: leader.pid, description: dialled.name, stop: async () => undefined });
        const pairs = await uncontended(target, { clients: 16, warmupMs: 200, durationMs: trafficMs, ttlMs: 10_000 });
        const grants = await contended(target, { clients: 16, warmupMs: 200, durationMs: trafficMs, ttlMs: 10_000 });
        log(`round ${round} traffic via ${dialled.name}: pairs/s ${pairs.pairsPerS?.toFixed(0)}, grants/s ${grants.grantsPerS?.toFixed(0)}`);
      }
    }
    const metrics = await failover(cluster, { kills, maxMs }, log);
    log(`round ${round}: ${JSON.stringify(metrics)}`);
    failed += metrics.failed ?? 0;
    if (failed > 0) break;
  }
} finally {
  await cluster.stop();
  await stopAllChildren();
  removeAllTempDirs();
}
log(`done: ${failed} failed failovers`);
process.exit(failed > 0 ? 1 : 0);
