import { EtcdClient } from "../../packages/server/src/cluster/etcd-client.js";
import { runScript } from "./infra/script.js";
import { quantile } from "./metrics/stats.js";
import { startEtcdCluster } from "./servers/etcd.js";
import { toolArgs } from "./infra/args.js";
import { cpuMs } from "./infra/procfs.js";

/**
 * The floor under the cluster's contended grants (issue 12; BENCHMARKS.md, "What bounds the goal of 5×"):
 * a grant is announced only once its group commit is in etcd, and the holder's release, which lets the
 * next grant be made, comes only after that announcement, so grants on one lock are at most one per
 * commit's round trip. This measures that round trip on the benchmark's 3-member etcd (etcd's default
 * timings, WAL fsync'd in a temp dir): one guarded transaction of the leader's shape at a time (the
 * election key's create revision, the entry's absence, its predecessor's presence; a 300-byte put), sent
 * as the leader sends it (EtcdClient.txn over node:http2), for `--ms` after a warm-up.
 *
 * With `--shapes` and `--passes` it alternates transaction shapes (compares, put size, the member written
 * to) on one cluster and gives etcd's CPU per commit (all three members, from /proc) beside the latency
 * (BENCHMARKS.md, "Cluster rows: etcd's work per request (round 11)").
 *
 *   node --import tsx bench/src/etcd-commit-floor.ts [--ms=5000] [--passes=1] [--shapes=3c-300b-first,1c-4000b-leader]
 */
const args = Object.fromEntries(toolArgs());
const durationMs = Number(args.ms ?? 5000);
const passes = Number(args.passes ?? 1);
/** Shapes to alternate, e.g. `--shapes=3c-300b-leader,1c-4000b-follower` (compares, put bytes, member written to). Default: the leader's shape. */
const shapes = (args.shapes ?? "3c-300b-first").split(",").map(parseShape);

interface Shape {
  name: string;
  compares: 1 | 3;
  bytes: number;
  at: "first" | "leader" | "follower";
}

function parseShape(name: string): Shape {
  const match = /^([13])c-(\d+)b-(first|leader|follower)$/.exec(name);
  if (!match) throw new Error(`a shape is <1|3>c-<bytes>b-<first|leader|follower>, not ${name}`);
  return { name, compares: Number(match[1]) as 1 | 3, bytes: Number(match[2]), at: match[3] as Shape["at"] };
}

async function main(): Promise<void> {
  const etcd = await startEtcdCluster({ size: 3 });
  const isLeader = await Promise.all(etcd.members.map(async (m) => /^etcd_server_is_leader 1$/m.test(await (await fetch(`${m.clientUrl}/metrics`)).text())));
  const leaderIndex = isLeader.indexOf(true);
  const orderFor = (at: Shape["at"]) => {
    if (at === "first") return etcd.endpoints;
    const first = at === "leader" ? leaderIndex : (leaderIndex + 1) % etcd.endpoints.length;
    return [etcd.endpoints[first]!, ...etcd.endpoints.filter((_, index) => index !== first)];
  };
  const clients = new Map(shapes.map((shape) => [shape.at, new EtcdClient(orderFor(shape.at))]));
  try {
    const leaderKey = "/floor/leader";
    const created = await clients.get(shapes[0]!.at)!.txn([], [{ op: "put", key: leaderKey, value: new Uint8Array(8) }], []);
    const epoch = created.revision;
    let entry = 0;
    const commit = async (shape: Shape) => {
      entry += 1;
      const key = `/floor/log/${String(entry).padStart(12, "0")}`;
      const previous = `/floor/log/${String(entry - 1).padStart(12, "0")}`;
      const compare = shape.compares === 1 ? [{ key: leaderKey, createRevision: epoch }] : [{ key: leaderKey, createRevision: epoch }, { key, createRevision: 0 }, ...(entry > 1 ? [{ key: previous, exists: true as const }] : [])];
      const result = await clients.get(shape.at)!.txn(compare, [{ op: "put", key, value: new Uint8Array(shape.bytes) }], [{ op: "get", key: leaderKey }]);
      if (!result.succeeded) throw new Error(`commit ${entry} refused by its guard`);
    };
    for (const end = performance.now() + 1_000; performance.now() < end; ) await commit(shapes[0]!);
    for (let pass = 1; pass <= passes; pass++) {
      for (const shape of pass % 2 === 1 ? shapes : [...shapes].reverse()) {
        const times: number[] = [];
        const cpuBefore = etcd.members.map((m) => cpuMs(m.pid));
        for (const end = performance.now() + durationMs; performance.now() < end; ) {
          const started = performance.now();
          await commit(shape);
          times.push(performance.now() - started);
        }
        const cpu = etcd.members.map((m, index) => cpuMs(m.pid) - cpuBefore[index]!);
        const sorted = Float64Array.from(times).sort();
        const p50 = quantile(sorted, 0.5);
        const perCommitUs = (ms: number) => Math.round((ms * 1000) / times.length);
        console.log(
          JSON.stringify({
            pass,
            shape: shape.name,
            members: 3,
            commits: times.length,
            commitsPerSecond: Math.round(times.length / (durationMs / 1000)),
            p50Ms: Number(p50.toFixed(2)),
            p99Ms: Number(quantile(sorted, 0.99).toFixed(2)),
            grantsPerSecondAtMostOnOneLock: Math.round(1000 / p50),
            etcdCpuUsPerCommit: perCommitUs(cpu.reduce((sum, ms) => sum + ms, 0)),
            etcdLeaderCpuUsPerCommit: perCommitUs(cpu[leaderIndex]!),
          }),
        );
      }
    }
  } finally {
    for (const client of clients.values()) client.close();
    await etcd.stop();
  }
}

runScript(main);
