import { readdirSync } from "node:fs";
import { leaseholdSystem } from "../adapters/leasehold.js";
import { Samples } from "../metrics/stats.js";
import type { Gateway, LeaseholdCluster } from "../servers/cluster.js";
import { freshName, withTimeout, type Metrics } from "./common.js";

export interface FailoverParams {
  /** How many times the leading gateway is killed (each time restarted before the next kill). */
  kills: number;
  /** Gives up on one failover after this long (recorded as failed, the next kill goes on). */
  maxMs: number;
}

/**
 * Kills the leading gateway with SIGKILL and times, from the kill, the first lock granted by the new
 * leader: a new client, through a surviving gateway (the next one each try), takes a lease and
 * try-acquires a fresh lock, again and again until one is granted. What a client that arrives during
 * a failover waits; a resumed session waits as long (it needs the same new leader). The killed gateway
 * is restarted (it follows) before the next kill, so every kill hits a cluster of three.
 */
export async function failover(cluster: LeaseholdCluster, params: FailoverParams, log: (line: string) => void): Promise<Metrics> {
  const times = new Samples();
  let failed = 0;
  for (let kill = 1; kill <= params.kills; kill++) {
    const leader = await cluster.leader();
    const survivors = cluster.gateways.filter((gateway) => gateway !== leader);
    const killedAt = performance.now();
    await leader.kill();
    const grantedAfter = await firstGrant(survivors, killedAt, params.maxMs);
    if (grantedAfter === undefined) failed++;
    else times.add(grantedAfter);
    log(`failover ${kill}/${params.kills}: ${leader.name} killed, ${grantedAfter === undefined ? `no grant within ${params.maxMs} ms` : `first grant after ${grantedAfter.toFixed(0)} ms`}${describeLoad(survivors)}`);
    if (grantedAfter === undefined) for (const line of await explainFailure(cluster)) log(line);
    await leader.restart();
  }
  const summary = times.summary();
  return { kills: params.kills, failovers: summary.count, failed, p50Ms: summary.p50, maxMs: summary.max, minMs: times.size === 0 ? Number.NaN : (times.sorted()[0] as number) };
}

/** The new leader's election-to-serving time and what its load replayed (the part of a failover that grows with traffic). */
function describeLoad(survivors: readonly Gateway[]): string {
  const leader = survivors.find((gateway) => gateway.role === "leader");
  const load = leader?.lastLoad;
  if (!leader || !load) return "";
  return `; ${leader.name} served ${load.servingMs} ms after winning its election (load ${load.loadMs} ms: snapshot ${load.snapshotBytes} B, ${load.logEntries} log entries, ${load.logBytes} B)`;
}

/**
 * Why no gateway granted: what each one said last (campaign, load, step-down, errors) and what etcd
 * holds of the election (which key leads, its lease's TTL left) and of the data. A failover that failed
 * once in a full run and passed every rerun must explain itself from its own run.
 */
async function explainFailure(cluster: LeaseholdCluster): Promise<string[]> {
  const lines = [`  etcd:`, ...(await cluster.describeEtcd()).map((line) => `    ${line}`)];
  for (const gateway of cluster.gateways) {
    lines.push(`  ${gateway.name} (${gateway.url}, ${gateway.role}${openFiles(gateway)}), its last ${gateway.recent.length} lines of output:`, ...gateway.recent.map((line) => `    ${line}`));
  }
  return lines;
}

/** A running gateway's open file descriptors (its sockets, mostly), from /proc. */
function openFiles(gateway: Gateway): string {
  if (gateway.role === "down") return "";
  try {
    return `, ${readdirSync(`/proc/${gateway.pid}/fd`).length} open files`;
  } catch {
    return "";
  }
}

/** Ms from `since` to the first grant through any of `gateways`, or undefined after `maxMs`. */
async function firstGrant(gateways: readonly Gateway[], since: number, maxMs: number): Promise<number | undefined> {
  for (let attempt = 0; performance.now() - since < maxMs; attempt++) {
    const system = leaseholdSystem(gateways[attempt % gateways.length]!.url);
    const client = await withTimeout(system.connect(), 2_000, "connect").catch(() => undefined);
    if (client !== undefined) {
      // A try under a lease of 10 s; one that hangs (the relay still dialling the dead leader) is given up.
      const granted = await withTimeout(client.acquire(freshName("failover"), 10_000, { wait: false }), 2_000, "acquire").then(
        (result) => (result.acquired ? performance.now() - since : undefined),
        () => undefined,
      );
      await withTimeout(client.close(), 2_000, "close").catch(() => undefined);
      if (granted !== undefined) return granted;
    }
    // Tries 20 ms apart: a fine enough grain against failovers of seconds, few enough not to load the survivors.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}
