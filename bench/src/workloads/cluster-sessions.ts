import { setTimeout as sleep } from "node:timers/promises";
import { cpuMs, rssBytes } from "../infra/procfs.js";
import { startLeaseholdCluster, type Gateway } from "../servers/cluster.js";
import { Holders } from "../sessions/holders.js";
import type { Metrics } from "./common.js";

export interface ClusterSessionsParams {
  repoRoot: string;
  /** Sessions held, each with one lock under a kept-alive lease. */
  sessions: number;
  /** Most client sockets one follower gateway or one holder process takes; followers and holders are as many as that needs. */
  perProcess: number;
  /** `--relay-links` of each follower. */
  links: number;
  electionTtlS: number;
  ttlMs: number;
  settleMs: number;
  idleMs: number;
  localAddresses: string[];
  fileLimit: number;
  growMsPerSession: number;
}

/**
 * Sessions held through a cluster whose followers multiplex (`--relay-mode multiplex`): the leader
 * holds a socket per link, not per session, so the open-file limit bounds each follower and each
 * holder process, not the sessions held. Followers and holders are as many as `perProcess` needs, one
 * holder per follower, each holder connecting to its own follower. Reports the leader's memory
 * (VmRSS growth from its baseline, per session) and idle CPU, the followers' largest RSS, and the
 * locks found lost at the end (each holder releases every lock it took).
 */
export async function clusterSessions(params: ClusterSessionsParams): Promise<{ metrics: Metrics; note?: string }> {
  const followers = Math.ceil(params.sessions / params.perProcess);
  const cluster = await startLeaseholdCluster(params.repoRoot, {
    etcd: { size: 3, fileLimit: params.fileLimit },
    gateways: followers + 1,
    electionTtlS: params.electionTtlS,
    cli: "built",
    // As the single server of the sessions workload: one tenant opening sessions as fast as it can from 16
    // addresses, far past the per-address defaults meant for untrusted peers (which the leader applies
    // to each client's own address).
    flags: ["--relay-mode", "multiplex", "--relay-links", String(params.links), "--max-sessions-per-principal", "10000000", "--max-leases-per-principal", "100000000", "--max-new-connections-per-second", "1000000"],
    fileLimit: params.fileLimit,
  });
  const holders = new Holders({
    repoRoot: params.repoRoot,
    config: { system: "leasehold", ttlMs: params.ttlMs, concurrency: 100 },
    perHolder: Math.ceil(params.sessions / followers),
    localAddresses: params.localAddresses,
    fileLimit: params.fileLimit,
  });
  try {
    const [, started] = await Promise.allSettled([cluster.leader(), holders.start()]);
    if (started.status === "rejected") throw started.reason;
    const leader = await cluster.leader();
    const relays = cluster.gateways.filter((gateway) => gateway !== leader);
    await sleep(Math.min(1_000, params.settleMs));
    const baseline = rssBytes(leader.pid);
    const growStarted = performance.now();
    await holders.grow(
      params.sessions,
      relays.map((gateway) => gateway.url),
      Math.max(60_000, params.sessions * params.growMsPerSession),
    );
    const growS = (performance.now() - growStarted) / 1000;
    await sleep(params.settleMs);
    const open = holders.sessions;
    const rss = rssBytes(leader.pid);
    const followerRss = Math.max(...relays.map((gateway) => rssBytes(gateway.pid)));
    const leaderStart = cpuMs(leader.pid);
    const followersStart = relays.reduce((sum, gateway) => sum + cpuMs(gateway.pid), 0);
    const idleStarted = performance.now();
    await sleep(params.idleMs);
    const idleS = (performance.now() - idleStarted) / 1000;
    const leaderCpuMs = cpuMs(leader.pid) - leaderStart;
    const followersCpuMs = relays.reduce((sum, gateway) => sum + cpuMs(gateway.pid), 0) - followersStart;
    const stillLeading = leader.role === "leader";
    const failed = holders.failures; // read before stop(), which lets the holders go
    const lost = await holders.stop();
    if (lost !== 0) for (const gateway of cluster.gateways) for (const warning of gateway.warnings) process.stderr.write(`${gateway.name}: ${warning}\n`);
    const metrics: Metrics = {
      sessionsOpen: open,
      sessionsFailed: failed,
      followers: relays.length,
      sessionsPerFollower: open / relays.length,
      leaderBaselineRssMiB: baseline / 2 ** 20,
      leaderRssMiB: rss / 2 ** 20,
      leaderBytesPerSession: open > 0 ? (rss - baseline) / open : Number.NaN,
      followerMaxRssMiB: followerRss / 2 ** 20,
      leaderIdleCpuPct: leaderCpuMs / 10 / idleS,
      followersIdleCpuPct: followersCpuMs / 10 / idleS,
      openPerS: open / growS,
      leaderKept: stillLeading ? 1 : 0,
      ...(lost !== undefined && { lostLocks: lost }),
    };
    return { metrics, ...(holders.firstError !== undefined && { note: holders.firstError }) };
  } finally {
    await holders.stop();
    // What went wrong, when something did: a leader deposed (starved keepalives), slow commits, a starved holder.
    process.stderr.write(diagnosis(holders, cluster.gateways));
    await cluster.stop();
  }
}

/** One line per holder and per gateway: what each holder lost and why, its longest stall; each gateway's warnings by message. */
function diagnosis(holders: Holders, gateways: readonly Gateway[]): string {
  const lines = holders.reports.map((report, index) => `cluster-sessions: holder report ${index}: ${JSON.stringify(report)}`);
  for (const gateway of gateways) {
    const counts = [...gateway.warningCounts].map(([message, count]) => `${count}× ${message}`).join("; ");
    lines.push(`cluster-sessions: ${gateway.name} (${gateway.role}): ${counts || "no warnings"}`);
  }
  return `${lines.join("\n")}\n`;
}
