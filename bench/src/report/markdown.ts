import type { MachineFacts } from "../infra/machine.js";
import type { Profile } from "../profile.js";
import { find, pairedRatio, type Aggregate, type WorkloadId } from "../results.js";
import { bytes, ms, num, pct, ratio, table, us } from "./format.js";
import type { TargetResult } from "./targets.js";

export interface ReportInput {
  profile: Profile;
  command: string;
  startedAt: Date;
  durationS: number;
  machine: MachineFacts;
  servers: string[];
  aggregates: readonly Aggregate[];
  targets: readonly TargetResult[];
  /** Workload order and variants as run, so tables follow the run. */
  layout: { workload: WorkloadId; variants: string[]; systems: string[] }[];
  notes: string[];
  resultsFile: string;
  /** 1-minute load averages at the start and the end: other work on the machine shows up here. */
  load: { start: number; end: number };
}

interface Column {
  title: string;
  metric: string;
  show: (value: number | undefined) => string;
}

/** The higher-is-better figure each workload is compared on, for its "vs Redis" and "vs etcd" columns. */
const PRIMARY: Partial<Record<WorkloadId, string>> = {
  uncontended: "pairsPerS",
  contended: "grantsPerS",
  "key-value": "opsPerS",
  cluster: "opsPerS",
  mixed: "cyclesPerS",
};

const COLUMNS: Record<WorkloadId, Column[]> = {
  uncontended: [
    { title: "pairs/s", metric: "pairsPerS", show: num },
    { title: "p50", metric: "p50Ms", show: ms },
    { title: "p99", metric: "p99Ms", show: ms },
    { title: "client CPU/pair", metric: "clientCpuUsPerOp", show: us },
    { title: "server CPU/pair", metric: "serverCpuUsPerOp", show: us },
  ],
  contended: [
    { title: "grants/s", metric: "grantsPerS", show: num },
    { title: "to another client", metric: "otherClientShare", show: pct },
    { title: "handoff p50", metric: "handoffP50Ms", show: ms },
    { title: "handoff p99", metric: "handoffP99Ms", show: ms },
    { title: "from release call p50 / p99", metric: "handoffFromCallP50Ms", show: ms },
    { title: "longest wait", metric: "longestWaitMs", show: ms },
    { title: "Jain", metric: "jain", show: (value) => num(value, 4) },
    { title: "client CPU/grant", metric: "clientCpuUsPerOp", show: us },
    { title: "server CPU/grant", metric: "serverCpuUsPerOp", show: us },
  ],
  "queue-depth": [
    { title: "grant p50", metric: "grantP50Ms", show: ms },
    { title: "grant p99", metric: "grantP99Ms", show: ms },
    { title: "grants/s", metric: "grantsPerS", show: num },
    { title: "grants timed", metric: "grantsTimed", show: num },
    { title: "queue filled in", metric: "fillS", show: seconds },
    { title: "then quiet after", metric: "settleS", show: seconds },
    { title: "server CPU/grant", metric: "serverCpuUsPerOp", show: us },
  ],
  sessions: [
    { title: "sessions open", metric: "sessionsOpen", show: num },
    { title: "server RSS", metric: "rssMiB", show: (value) => (value === undefined ? "–" : `${num(value)} MiB`) },
    { title: "memory/session", metric: "bytesPerSession", show: bytes },
    { title: "idle server CPU", metric: "idleServerCpuPct", show: (value) => (value === undefined ? "–" : `${num(value)} %`) },
    { title: "idle client CPU", metric: "idleClientCpuPct", show: (value) => (value === undefined ? "–" : `${num(value)} %`) },
    { title: "opened/s", metric: "openPerS", show: num },
    { title: "locks lost (all levels)", metric: "lostLocks", show: num },
  ],
  "key-value": [
    { title: "ops/s", metric: "opsPerS", show: num },
    { title: "p50", metric: "p50Ms", show: ms },
    { title: "p99", metric: "p99Ms", show: ms },
    { title: "client CPU/op", metric: "clientCpuUsPerOp", show: us },
    { title: "server CPU/op", metric: "serverCpuUsPerOp", show: us },
  ],
  "under-attack": [
    { title: "bystander p50", metric: "p50Ms", show: ms },
    { title: "bystander p99", metric: "p99Ms", show: ms },
    { title: "bystander max", metric: "maxMs", show: ms },
    { title: "answered", metric: "answered", show: num },
    { title: "attacker frames/s", metric: "attackSentPerS", show: num },
    { title: "refusals/s", metric: "attackRefusedPerS", show: num },
    { title: "sessions parked", metric: "attackParked", show: num },
    { title: "server CPU", metric: "serverCpuPct", show: (value) => (value === undefined ? "–" : `${num(value)} %`) },
    { title: "server RSS", metric: "rssMiB", show: (value) => (value === undefined ? "–" : `${num(value)} MiB`) },
  ],
  durable: [
    { title: "ops/s", metric: "opsPerS", show: num },
    { title: "p50", metric: "p50Ms", show: ms },
    { title: "p99", metric: "p99Ms", show: ms },
    { title: "server CPU/op", metric: "serverCpuUsPerOp", show: us },
  ],
  cluster: [
    { title: "ops/s", metric: "opsPerS", show: num },
    { title: "pair p50", metric: "p50Ms", show: ms },
    { title: "pair p99", metric: "p99Ms", show: ms },
    { title: "handoff p50", metric: "handoffP50Ms", show: ms },
    { title: "etcd writes/op", metric: "revisionPerOp", show: (value) => num(value, 3) },
    { title: "etcd WAL fsyncs/op", metric: "walFsyncsPerOp", show: (value) => num(value, 3) },
    { title: "server CPU/op", metric: "serverCpuUsPerOp", show: us },
  ],
  failover: [
    { title: "kills", metric: "kills", show: num },
    { title: "to the first grant, p50", metric: "p50Ms", show: ms },
    { title: "max", metric: "maxMs", show: ms },
    { title: "min", metric: "minMs", show: ms },
    { title: "no grant within 30 s", metric: "failed", show: num },
  ],
  mixed: [
    { title: "cycles/s", metric: "cyclesPerS", show: num },
    { title: "cycle p50", metric: "cycleP50Ms", show: ms },
    { title: "cycle p99", metric: "cycleP99Ms", show: ms },
    { title: "acquire wait p50", metric: "waitP50Ms", show: ms },
    { title: "acquire wait p99", metric: "waitP99Ms", show: ms },
    { title: "Jain", metric: "jain", show: (value) => num(value, 4) },
    { title: "fewest cycles / mean", metric: "fewestCyclesShare", show: pct },
    { title: "fenced puts refused", metric: "fenceRefused", show: num },
    { title: "stale-token put accepted (probe)", metric: "staleFenceAccepted", show: num },
    { title: "client CPU/cycle", metric: "clientCpuUsPerOp", show: us },
    { title: "server CPU/cycle", metric: "serverCpuUsPerOp", show: us },
  ],
  "cluster-sessions": [
    { title: "sessions open", metric: "sessionsOpen", show: num },
    { title: "followers", metric: "followers", show: num },
    { title: "leader RSS", metric: "leaderRssMiB", show: (value) => (value === undefined ? "–" : `${num(value)} MiB`) },
    { title: "leader memory/session", metric: "leaderBytesPerSession", show: bytes },
    { title: "leader idle CPU", metric: "leaderIdleCpuPct", show: (value) => (value === undefined ? "–" : `${num(value)} %`) },
    { title: "followers' idle CPU", metric: "followersIdleCpuPct", show: (value) => (value === undefined ? "–" : `${num(value)} %`) },
    { title: "largest follower RSS", metric: "followerMaxRssMiB", show: (value) => (value === undefined ? "–" : `${num(value)} MiB`) },
    { title: "opened/s", metric: "openPerS", show: num },
    { title: "locks lost", metric: "lostLocks", show: num },
  ],
};

const TITLES: Record<WorkloadId, string> = {
  uncontended: "1. Uncontended: try-acquire + release, each client on its own lock",
  contended: "2. Contended: 16 clients on one lock, waiting acquire, hold 0 ms, release",
  "queue-depth": "3. Queue depth: grant latency with many waiters queued on one lock",
  sessions: "4. Idle sessions: each holds one lock under a kept-alive lease",
  "key-value": "5. Key-value: put and get, 16 clients",
  durable: "6. Durable (`--data`) vs in-memory (`--memory`) leasehold",
  "under-attack": "7. Under attack: a bystander tenant's latency while another tenant attacks",
  cluster: "8. Cluster: 3 gateways over 3 etcd members, beside one durable server and etcd's own lock recipe",
  failover: "9. Cluster failover: kill -9 of the leading gateway to the first grant by the next",
  mixed: "10. Mixed: 100 clients loop a waiting acquire on one of 50 locks, two fenced puts, release",
  "cluster-sessions": "11. Sessions held through a cluster of gateways that multiplex (`--relay-mode multiplex`)",
};

const EXPLANATIONS: Record<WorkloadId, string> = {
  uncontended: "A pair is one try-acquire and one release, timed from the acquire call to the release's reply. CPU is per pair, from /proc/<pid>/stat (utime + stime), client process and server process apart.",
  contended:
    "Handoff is the time from the releasing client's release call *completing* to the next grant being seen (0 when the grant arrives first); \"from release call\" times it from the call instead. Longest wait is the longest single waiting acquire. Jain's index is over per-client grant counts (1 = perfectly even). Redis waiters retry every 1 ms (no queue).",
  "queue-depth":
    "The head of the queue is granted, releases at once and queues again at the tail, so the queue stays this deep; each grant is timed from the previous holder's release completing to the grant (0 when the grant arrives first), as the contended row's handoff. The waiters share the profile's connections (50 in the full run) and are queued one per connection at a time, so that consecutive waiters are on different connections at every depth. Timing starts once the queue is full and the server has gone quiet (under 20 % of a core for 0.25 s, at most 30 s); server CPU per grant is read over the timed grants alone (the waiters' cancels after the last one are not in it). Redis has no queue: not applicable.",
  sessions:
    "Each level adds sessions to the same fresh server. Memory/session is the growth of the server's VmRSS from its baseline (fresh, before any session) divided by the sessions open. Idle CPU is the share of one core used by the server (and by the client processes) while the sessions only keep their leases alive.",
  "key-value": "One request in flight per client, small values (see the profile), each client over its own keys; gets read keys written beforehand.",
  "under-attack":
    "A fresh leasehold server per pass (`--memory`, authentication on, two tenants with the default limits). The bystander tenant times one counter read at a time; the attacker, in its own process, first floods requests the server must refuse (every request id after the first is stale) as fast as its socket takes them, then opens sessions as fast as it can, each granting a day-long lease that is not kept alive before dropping its connection (parking). Each phase is timed after a warm-up with the attack already running. The control phase runs a process that only keeps one core busy and sends nothing: on a two-core machine whose attacker process takes a core, it shows the tail that scheduling alone adds, apart from anything the server does.",
  cluster:
    "Three gateways (`leasehold serve --etcd`, the built CLI) over three etcd members on 127.0.0.1 with etcd's default raft timings (heartbeat 100 ms, election 1 s) and its WAL fsync'd in a temp dir; clients connect to the leading gateway, or to a follower that relays each connection to the leader. Beside it, one durable leasehold server (`--data`, `--sync full`) and etcd's own lock recipe (as in workloads 1 and 2) on the same three members, its clients on the first member (etcd forwards writes to its raft leader). Lock pairs as workload 1, contended grants as workload 2. Server CPU is the leading gateway's, the single server's or the first etcd member's: etcd's CPU serving the gateways is not in the leasehold rows. \"vs etcd\" is against the recipe on the same cluster. The leader keeps one group commit in flight to etcd (`--etcd-writes-in-flight 1`, the default): why not more is under \"Cluster throughput\" at the end.",
  failover:
    "The leading gateway is killed with SIGKILL; from the kill, a new client tries through the surviving gateways in turn (a fresh connection, a lease, a try-acquire of a fresh lock, 20 ms between tries) until a lock is granted. The killed gateway is restarted (it follows) before the next kill. The figure is the election TTL (the dead leader's election lease must lapse in etcd) plus the next leader's load of the state from etcd and the client's try.",
  mixed:
    "Each client loops a cycle: a waiting acquire on one of the locks drawn at random (each client draws the same sequence in every system and pass), two writes of a small value under that lock, release. leasehold fences its writes with the grant's token (`kv.put` with `fence`: applied only while the lock is held with exactly that token); etcd puts in a transaction guarded by its lock key's create revision (`txn.If(mutex.IsOwner())`, as etcd's docs fence writes under `concurrency.Mutex`); redis-fenced runs one Lua script that writes only while the lock holds its value and its `INCR` counter still equals the token; plain Redis writes with a plain `SET` (no token to fence with). Redis waiters retry `SET NX PX` every 1 ms (no queue). A cycle is timed from the acquire call to the release's reply, the acquire wait to the grant; cycles/s counts the cycles that ended inside the window. Jain's index is over per-client cycle counts; \"fewest cycles / mean\" shows a starved client that the index hides (one client with nothing among 100 still scores 0.99). A fenced put refused means the lock was lost while its holder worked: counted, never expected. After the window, a probe on a fresh lock writes with the token of the grant before the current one: a fenced system must refuse it (0 = refused, as it must).",
  "cluster-sessions":
    "Its own cluster: 3 etcd members and one gateway more than the followers needed, each follower started with `--relay-mode multiplex` and taking at most the profile's sockets per process (12,500 in the full run, under the open-file limit of 20,000), as many session-holder processes, each connecting to its own follower from 4 of 127.0.0.2-17. Each session holds one lock under a kept-alive lease; the leader holds one socket per link (4 per follower), not one per session. Leader memory/session is the growth of the leader's VmRSS from its baseline (elected, before any session) divided by the sessions open; idle CPU is the share of a core used while the sessions only keep their leases alive. Locks lost: releases that found the lock gone at the end.",
  durable:
    "Same workloads against a leasehold server started with `--memory`, one with `--data <tmpdir>` (the default `--sync full`: one fsync per group commit before any reply) and one with `--data <tmpdir> --sync process` (no fsync per commit: survives a killed server, not a power loss), alternating.",
};

export function renderMarkdown(input: ReportInput): string {
  const { profile, machine } = input;
  const out: string[] = [];
  out.push("# leasehold benchmarks", "");
  if (profile.name === "quick") {
    out.push(
      "> **This file comes from a quick run (`npm run bench -- --quick`), CI's smoke test:** small counts and sub-second windows.",
      "> Its figures are noisy and are **not** the full benchmark; run `npm run bench` for those.",
      "",
    );
  }
  out.push(
    `Generated ${input.startedAt.toISOString()} by \`${input.command}\` (profile \`${profile.name}\`, ${profile.passes} passes, system order alternating) in ${num(input.durationS)} s.`,
    `Raw results: \`${input.resultsFile}\` (git-ignored). Figures are medians over passes (idle sessions: ${profile.sessions.passes} passes); ratios are medians of per-pass ratios; violation counts are sums.`,
    "",
    "## Machine",
    "",
    table(
      ["", ""],
      [
        ["CPU", machine.cpuModel],
        ["cores", String(machine.cores)],
        ["memory", `${machine.memoryGiB} GiB`],
        ["OS / kernel", `${machine.os} / ${machine.kernel}`],
        ["Node.js", machine.node],
        ["Redis", machine.redis],
        ["etcd", machine.etcd],
        ["open-file limit (soft / hard)", `${machine.fileLimit.soft} / ${machine.fileLimit.hard}`],
        ["load average (1 min) at start / end", `${input.load.start.toFixed(2)} / ${input.load.end.toFixed(2)} (above 0 before the run: other work shared the cores)`],
        ["command", `\`${input.command}\``],
      ],
    ),
    "",
    "Servers (each its own process on 127.0.0.1, clients in the harness process):",
    "",
    ...input.servers.map((server) => `- \`${server}\``),
    "",
    "## Targets",
    "",
    table(
      ["target", "goal", "measured", "status"],
      input.targets.map((target) => [target.target, target.goal, target.measured, statusMark(target.status)]),
    ),
    "",
    "## Safety",
    "",
    safety(input.aggregates),
    "",
  );
  for (const { workload, variants, systems } of input.layout) {
    out.push(`## ${TITLES[workload]}`, "", EXPLANATIONS[workload], "");
    for (const variant of variants) {
      // The failover row is one measurement over every kill.
      const passes = workload === "sessions" ? profile.sessions.passes : workload === "failover" ? 1 : profile.passes;
      out.push(`**${variant}**`, "", workloadTable(input.aggregates, workload, variant, systems, passes), "");
    }
  }
  if (input.notes.length > 0) out.push("## Notes", "", ...input.notes.map((note) => `- ${note}`), "");
  out.push("## Method", "", ...METHOD, "");
  // The dashboard is measured in Chromium by its own script, not by this run: its figures live beside it.
  out.push("The dashboard's figures (longest main-thread task and page round trip at 500 and 5,000 locks) are measured apart, in Chromium: see [bench/DASHBOARD.md](bench/DASHBOARD.md).", "");
  return out.join("\n");
}

/** `passes`: how many the profile runs for this workload; a row measured in fewer says so. */
function workloadTable(aggregates: readonly Aggregate[], workload: WorkloadId, variant: string, systems: string[], passes: number): string {
  const columns = COLUMNS[workload];
  const primary = PRIMARY[workload];
  const header = ["system", ...columns.map((column) => column.title)];
  // The ratio columns against the systems this table has (the cluster rows have no Redis).
  const bases = primary === undefined ? [] : ["redis", "etcd"].filter((base) => systems.includes(base));
  for (const base of bases) header.push(base === "redis" ? "vs Redis" : "vs etcd");
  // Durable vs in-memory compares leasehold with itself: the first system listed is the in-memory one.
  const inMemory = workload === "durable" ? systems[0] : undefined;
  if (inMemory !== undefined) header.push("vs in-memory");
  const rows: string[][] = [];
  for (const system of systems) {
    const entry = find(aggregates, workload, variant, system);
    if (entry === undefined) continue;
    if (entry.skipped !== undefined) {
      rows.push([system, `*${entry.skipped}*`, ...header.slice(2).map(() => "")]);
      continue;
    }
    const cells = columns.map((column) => {
      if (column.metric === "handoffFromCallP50Ms") return `${ms(entry.metrics.handoffFromCallP50Ms)} / ${ms(entry.metrics.handoffFromCallP99Ms)}`;
      return column.show(entry.metrics[column.metric]);
    });
    if (primary !== undefined) for (const base of bases) cells.push(ratio(pairedRatio(entry, find(aggregates, workload, variant, base), primary)));
    if (inMemory !== undefined) cells.push(ratio(pairedRatio(entry, find(aggregates, workload, variant, inMemory), "opsPerS")));
    const notes = entry.notes.length > 0 ? ` (${entry.notes.join("; ")})` : "";
    rows.push([`${system}${entry.passes < passes ? ` [${entry.passes} of ${passes} passes]` : ""}${notes}`, ...cells]);
  }
  return rows.length === 0 ? "*not run*" : table(header, rows);
}

function safety(aggregates: readonly Aggregate[]): string {
  const checked = aggregates.filter((entry) => entry.metrics.exclusionViolations !== undefined);
  const bad = checked.filter(
    (entry) =>
      (entry.metrics.exclusionViolations ?? 0) > 0 ||
      (entry.metrics.tokenViolations ?? 0) > 0 ||
      (entry.metrics.lostLocks ?? 0) > 0 ||
      // The mixed row's own checks (in its table): fenced writes refused, and a stale token's write accepted.
      (entry.metrics.fenceRefused ?? 0) > 0 ||
      (entry.metrics.staleFenceAccepted ?? 0) > 0,
  );
  const summary =
    bad.length === 0
      ? `No violation observed: in ${checked.length} lock measurements no lock had two holders at once (in-process holder count), every fenced system's tokens grew with every grant, and no release found its lock gone.`
      : `**${bad.length} measurement(s) observed a violation** (see below; the mixed row's refused fenced puts and stale-token probe are in its own table).`;
  const rows = checked.map((entry) => [
    entry.workload,
    entry.variant,
    entry.system,
    num(entry.metrics.exclusionViolations),
    num(entry.metrics.tokenViolations),
    num(entry.metrics.lostLocks),
  ]);
  return [summary, "", table(["workload", "variant", "system", "two holders at once", "token not increasing", "lock lost before release"], rows)].join("\n");
}

function statusMark(status: TargetResult["status"]): string {
  switch (status) {
    case "met":
      return "met";
    case "missed":
      return "**missed**";
    case "not measured":
      return "not measured";
  }
}

function seconds(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "–" : `${num(value)} s`;
}

const METHOD = [
  "- **leasehold**: its own client (`@leasehold/client`), one session and one kept-alive lease per client; waiting acquires queue on the server (FIFO) and are granted by push.",
  "- **redis**: `SET key value NX PX ttl`, released with a compare-and-delete Lua script; waiting is retrying every 1 ms; locks still held are extended at TTL/3 (one timer per client). **redis-fenced** does `SET NX PX` + `INCR` in one Lua script (EVALSHA), so every grant carries a fencing token in the same round trip.",
  "- **etcd**: the standard recipe (as etcd's `concurrency.Mutex`): one lease per client, kept alive; key `name/<lease id>`; one transaction creates the key and reads the owner (lowest create revision); a waiter watches the deletion of the key just ahead of its own; the create revision is the token. etcd writes are fsync'd to its WAL in a temp dir, as in production. Each etcd client has its own gRPC connection.",
  "- Every server runs on 127.0.0.1 as its own process; Redis without persistence (`--save '' --appendonly no`). Clients of workloads 1–3, 5, 6 run in the harness process; idle sessions run in separate holder processes against a fresh server per system and pass (leasehold's bind to 127.0.0.2–17, four addresses per holder, so that no address runs out of ephemeral ports or passes leasehold's default of 10,000 connections per address). CPU is read from /proc/<pid>/stat, memory from VmRSS in /proc/<pid>/status.",
  "- Mutual exclusion is checked in process: a client counts as holding from the grant it sees until it calls release, so two holders at once is a real violation. Tokens of one lock must grow with every grant.",
];
