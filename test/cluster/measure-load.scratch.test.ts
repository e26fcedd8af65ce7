import { it } from "vitest";
import { EtcdClient } from "../../packages/server/src/cluster/etcd-client.js";
import { EtcdStorage } from "../../packages/server/src/persistence/etcd-storage.js";
import { emptyBatch, type Batch } from "../../packages/server/src/persistence/storage.js";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { defer } from "../support/fixtures.js";

function lockBatch(index: number): Batch {
  // Shaped like a lock-pairs turn: a few sessions' holds granted and released, a lease touched.
  const batch = { ...emptyBatch(), revision: 1000 + index, nextLeaseId: 10 + index };
  for (let k = 0; k < 8; k++) {
    const token = index * 8 + k;
    batch.holds.set(`lock:${token}`, { table: "lock", name: `pair-${k}`, limit: undefined, token, lease: k, mode: "exclusive", request: index, value: undefined, lockDelay: 0 });
    if (token > 8) batch.holds.set(`lock:${token - 8}`, null);
  }
  batch.sessions.set(`s${index % 16}`, { id: `s${index % 16}`, secret: "secret-secret-secret", createdAt: 1, agent: "bench", lastRequest: index, principal: undefined, account: undefined });
  return batch;
}

it("measures load cost vs log length", async () => {
  const cluster = await startEtcdCluster();
  const client = new EtcdClient(cluster.endpoints);
  defer(() => client.close());
  let ranges = 0;
  let rangeBytes = 0;
  const original = client.getPrefix.bind(client);
  client.getPrefix = async (prefix, options) => {
    ranges++;
    const result = await original(prefix, options);
    for (const kv of result.kvs) rangeBytes += kv.value.length + kv.key.length;
    return result;
  };
  const leaderKey = "/leader";
  const epoch = await client.put(leaderKey, new Uint8Array());
  const prefix = "/data/";
  const N = Number(process.env.ENTRIES ?? 5000);
  const writer = new EtcdStorage({ client, prefix, leaderKey, epoch, snapshotAfterEntries: 1e9 });
  await writer.load();
  let t = performance.now();
  let pending: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    pending.push(writer.write(lockBatch(i)));
    if (pending.length >= 64) { await Promise.all(pending); pending = []; }
  }
  await Promise.all(pending);
  const writeMs = performance.now() - t;
  console.log(`wrote ${N} entries in ${writeMs.toFixed(0)} ms (${(writeMs / N).toFixed(2)} ms each)`);
  for (let round = 0; round < 3; round++) {
    ranges = 0; rangeBytes = 0;
    t = performance.now();
    await new EtcdStorage({ client, prefix, leaderKey, epoch }).load();
    console.log(`load with ${N}-entry log: ${(performance.now() - t).toFixed(0)} ms, ${ranges} range requests, ${rangeBytes} bytes`);
  }
  t = performance.now();
  await writer.snapshot();
  console.log(`snapshot: ${(performance.now() - t).toFixed(0)} ms`);
  for (let round = 0; round < 3; round++) {
    ranges = 0; rangeBytes = 0;
    t = performance.now();
    await new EtcdStorage({ client, prefix, leaderKey, epoch }).load();
    console.log(`load after snapshot: ${(performance.now() - t).toFixed(0)} ms, ${ranges} range requests, ${rangeBytes} bytes`);
  }
  await writer.close();
}, 300_000);
