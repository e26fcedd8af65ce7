/**
 * How much of each workload a run does. `full` is the run behind BENCHMARKS.md (ten to fifteen minutes
 * on two cores); `quick` is CI's smoke test (under a minute), with every count and window much smaller.
 */
export interface Profile {
  name: "full" | "quick";
  /** Passes over every system; figures are medians over passes, the system order alternating. */
  passes: number;
  /** Lease/lock TTL of the lock workloads: long enough never to expire while measured. */
  lockTtlMs: number;
  uncontended: { clients: number[]; warmupMs: number; durationMs: number };
  contended: { clients: number; warmupMs: number; durationMs: number };
  queueDepth: { depths: number[]; grants: number; maxMs: number; connections: number; settleMaxMs: number };
  sessions: {
    /** Passes of this workload alone: each pass starts fresh servers, which dominates a quick run. */
    passes: number;
    levels: number[];
    /** leasehold alone goes on to this many sessions (capped by the machine's file limit). */
    leaseholdLevel: number;
    ttlMs: number;
    settleMs: number;
    idleMs: number;
  };
  /** Sessions held through a cluster of multiplexing gateways (workloads/cluster-sessions.ts). */
  clusterSessions: { sessions: number; perProcess: number; links: number; electionTtlS: number; ttlMs: number; settleMs: number; idleMs: number };
  keyValue: { clients: number; warmupMs: number; durationMs: number; keysPerClient: number; valueBytes: number };
  durable: { clients: number; warmupMs: number; durationMs: number };
  underAttack: { warmupMs: number; durationMs: number; parkParallel: number };
  /**
   * The cluster rows: lock pairs and contended grants with `clients` clients, through 3 gateways over 3
   * etcd members (etcd's own raft timings), beside one durable server and etcd's lock recipe on the
   * same members; then `kills` failovers of the leading gateway at `--election-ttl electionTtlS`.
   */
  cluster: { clients: number; warmupMs: number; durationMs: number; kills: number; electionTtlS: number };
  /** The mixed row: `clients` clients loop a waiting acquire on one of `names` locks, `puts` fenced writes, release. */
  mixed: { clients: number; names: number; puts: number; valueBytes: number; warmupMs: number; durationMs: number };
  /**
   * etcd at 10,000 waiters or sessions costs two to four minutes per pass here (its gRPC client
   * spends milliseconds of CPU per call on two cores), so those levels run this many passes; every
   * other measurement runs `passes`.
   */
  etcdLarge: { fromLevel: number; passes: number };
  /** The whole run is abandoned (and everything stopped) after this long. */
  watchdogMs: number;
}

export const FULL: Profile = {
  name: "full",
  // Three passes, so that the median is one measured value: on this VM one pass in several runs at
  // half speed for any system (scheduling of the two vCPUs), and a median of two is their mean.
  passes: 3,
  lockTtlMs: 10_000,
  // Warm-ups of 1.5 s: a fresh leasehold server and client run in V8, whose optimizing compiler needs
  // a second or so of traffic; half a second measured the first workload's first pass half cold.
  uncontended: { clients: [1, 16], warmupMs: 1_500, durationMs: 2_500 },
  contended: { clients: 16, warmupMs: 1_500, durationMs: 2_500 },
  queueDepth: { depths: [10, 1_000, 10_000], grants: 1_000, maxMs: 5_000, connections: 50, settleMaxMs: 30_000 },
  sessions: { passes: 2, levels: [1_000, 10_000], leaseholdLevel: 50_000, ttlMs: 15_000, settleMs: 2_000, idleMs: 6_000 },
  // 12,500 sockets per follower and per holder: four of each, under the open-file limit of 20,000 with room to spare.
  // An election TTL of 10 s: with 2 s the leader lost its election lease 6 times while 30,000 sessions
  // opened at a load of 20 on 2 cores (keepalives starved), and each failover made every session reconnect.
  clusterSessions: { sessions: 50_000, perProcess: 12_500, links: 4, electionTtlS: 10, ttlMs: 30_000, settleMs: 3_000, idleMs: 6_000 },
  keyValue: { clients: 16, warmupMs: 1_500, durationMs: 2_500, keysPerClient: 100, valueBytes: 100 },
  durable: { clients: 16, warmupMs: 1_500, durationMs: 2_500 },
  underAttack: { warmupMs: 1_000, durationMs: 3_000, parkParallel: 16 },
  // 2 s: etcd's minimum lease TTL at its default raft timings (1.5 election timeouts of 1 s, rounded up).
  cluster: { clients: 16, warmupMs: 1_500, durationMs: 2_500, kills: 10, electionTtlS: 2 },
  mixed: { clients: 100, names: 50, puts: 2, valueBytes: 100, warmupMs: 1_500, durationMs: 2_500 },
  etcdLarge: { fromLevel: 10_000, passes: 1 },
  watchdogMs: 30 * 60_000,
};

export const QUICK: Profile = {
  name: "quick",
  passes: 2,
  lockTtlMs: 10_000,
  uncontended: { clients: [1, 16], warmupMs: 50, durationMs: 250 },
  contended: { clients: 16, warmupMs: 50, durationMs: 300 },
  queueDepth: { depths: [10, 100, 200], grants: 100, maxMs: 1_500, connections: 8, settleMaxMs: 1_000 },
  sessions: { passes: 1, levels: [50, 200], leaseholdLevel: 500, ttlMs: 3_000, settleMs: 150, idleMs: 400 },
  clusterSessions: { sessions: 400, perProcess: 200, links: 2, electionTtlS: 2, ttlMs: 5_000, settleMs: 300, idleMs: 500 },
  keyValue: { clients: 16, warmupMs: 50, durationMs: 250, keysPerClient: 20, valueBytes: 100 },
  durable: { clients: 16, warmupMs: 50, durationMs: 250 },
  underAttack: { warmupMs: 200, durationMs: 500, parkParallel: 8 },
  // Two kills (2.2 to 2.5 s each to the first grant, then a restart), the cluster's start (9 to 14 s) and the
  // rows' short windows: 34 to 41 s in all at a load of 16 to 20.
  cluster: { clients: 16, warmupMs: 50, durationMs: 250, kills: 2, electionTtlS: 2 },
  // As many clients and locks as the full run (the row is about 100 clients), shorter windows: 20 s for the
  // row's 8 measurements at a load of 13 (connecting 100 etcd clients is most of it).
  mixed: { clients: 100, names: 50, puts: 2, valueBytes: 100, warmupMs: 200, durationMs: 500 },
  etcdLarge: { fromLevel: 10_000, passes: 2 },
  // The cluster rows and 2 failovers add 34 to 41 s (at a load of 16 to 20) to the rest, the mixed row about 20 s.
  watchdogMs: 270_000,
};
