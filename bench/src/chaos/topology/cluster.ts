import { startLeaseholdCluster } from "../../servers/cluster.js";
import { shuffle } from "../nemesis.js";
import type { Topology } from "./topology.js";

/** Election TTL of the gateways, in s: etcd's minimum at the raft timings below (1.5 × 500 ms, rounded up). */
const ELECTION_TTL_S = 1;

/**
 * A cluster (issue 12): 3 etcd members and 3 gateways (`leasehold serve --etcd`) over them, every one a
 * member the nemesis may kill -9 (and restart) or SIGSTOP (and SIGCONT). The workers know every gateway
 * (each starts on another one, see run.ts), so that a relay through a follower is part of the run.
 * Raft timings 50/500 ms, as the cluster tests use: short enough for failovers within a client's TTL of
 * a few seconds, long enough that a member starved of CPU on 2 busy cores does not start elections.
 * The gateways run from the TypeScript sources, as the single node does, so that CI needs no build.
 */
export async function startCluster(repoRoot: string): Promise<Topology> {
  const cluster = await startLeaseholdCluster(repoRoot, {
    etcd: { size: 3, heartbeatMs: 50, electionMs: 500 },
    gateways: 3,
    electionTtlS: ELECTION_TTL_S,
    cli: "sources",
  });
  const oneOf = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;
  // Kills and pauses hit the leading gateway, an etcd member and a following gateway in turn (in an
  // order shuffled every round), so that even a one-minute run hits the leader (the only gateway whose
  // loss needs a failover) and etcd; drawn among all six, the leader would be hit one fault in six.
  const kinds = [
    (random: () => number) => cluster.gateways.find((gateway) => gateway.role === "leader") ?? oneOf(cluster.gateways, random),
    (random: () => number) => oneOf(cluster.etcd.members, random),
    (random: () => number) => {
      const followers = cluster.gateways.filter((gateway) => gateway.role === "follower");
      return oneOf(followers.length > 0 ? followers : cluster.gateways, random);
    },
  ];
  let round: typeof kinds = [];
  return {
    description: cluster.description,
    urls: cluster.urls,
    members: [...cluster.gateways, ...cluster.etcd.members],
    pick(random) {
      if (round.length === 0) round = shuffle([...kinds], random);
      return round.pop()!(random);
    },
    stop: () => cluster.stop(),
  };
}
