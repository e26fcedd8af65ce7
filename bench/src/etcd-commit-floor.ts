import { EtcdClient } from "../../packages/server/src/cluster/etcd-client.js";
import { runScript } from "./infra/script.js";
import { quantile } from "./metrics/stats.js";
import { startEtcdCluster } from "./servers/etcd.js";
import { toolArgs } from "./infra/args.js";

/**
 * The floor under the cluster's contended grants (issue 12; BENCHMARKS.md, "What bounds the goal of 5×"):
 * a grant is announced only once its group commit is in etcd, and the holder's release, which lets the
 * next grant be made, comes only after that announcement, so grants on one lock are at most one per
 * commit's round trip. This measures that round trip on the benchmark's 3-member etcd (etcd's default
 * timings, WAL fsync'd in a temp dir): one guarded transaction of the leader's shape at a time (the
 * election key's create revision, the entry's absence, its predecessor's presence; a 300-byte put), sent
 * as the leader sends it (EtcdClient.txn over node:http2), for `--ms` after a warm-up.
 *
 *   node --import tsx bench/src/etcd-commit-floor.ts [--ms=5000]
 */
const args = Object.fromEntries(toolArgs());
const durationMs = Number(args.ms ?? 5000);

async function main(): Promise<void> {
  const etcd = await startEtcdCluster({ size: 3 });
  const client = new EtcdClient(etcd.endpoints);
  try {
    const leaderKey = "/floor/leader";
    const created = await client.txn([], [{ op: "put", key: leaderKey, value: new Uint8Array(8) }], []);
    const epoch = created.revision;
    const value = new Uint8Array(300);
    let entry = 0;
    const commit = async () => {
      entry += 1;
      const key = `/floor/log/${String(entry).padStart(12, "0")}`;
      const previous = `/floor/log/${String(entry - 1).padStart(12, "0")}`;
      const compare = [{ key: leaderKey, createRevision: epoch }, { key, createRevision: 0 }, ...(entry > 1 ? [{ key: previous, exists: true as const }] : [])];
      const result = await client.txn(compare, [{ op: "put", key, value }], [{ op: "get", key: leaderKey }]);
      if (!result.succeeded) throw new Error(`commit ${entry} refused by its guard`);
    };
    for (const end = performance.now() + 1_000; performance.now() < end; ) await commit();
    const times: number[] = [];
    for (const end = performance.now() + durationMs; performance.now() < end; ) {
      const started = performance.now();
      await commit();
      times.push(performance.now() - started);
    }
    const sorted = Float64Array.from(times).sort();
    const p50 = quantile(sorted, 0.5);
    console.log(
      JSON.stringify({
        members: 3,
        commits: times.length,
        commitsPerSecond: Math.round(times.length / (durationMs / 1000)),
        p50Ms: Number(p50.toFixed(2)),
        p99Ms: Number(quantile(sorted, 0.99).toFixed(2)),
        grantsPerSecondAtMostOnOneLock: Math.round(1000 / p50),
      }),
    );
  } finally {
    client.close();
    await etcd.stop();
  }
}

runScript(main);
