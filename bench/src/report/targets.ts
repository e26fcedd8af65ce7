import { find, pairedRatio, type Aggregate } from "../results.js";
import { bytes, ms, num, pct, ratio, us } from "./format.js";

/** One goal from the issue, what this run measured for it, and whether it was met. */
export interface TargetResult {
  target: string;
  goal: string;
  measured: string;
  status: "met" | "missed" | "not measured";
}

type Lookup = (workload: Aggregate["workload"], variant: string, system: string, metric: string) => number | undefined;

export interface TargetInputs {
  aggregates: readonly Aggregate[];
  uncontendedClients: readonly number[];
  contendedVariant: string;
  queueDepths: readonly number[];
  /** The session levels measured for Redis and leasehold alike, lowest first. */
  sessionsVariants: readonly string[];
  /** The labels of leasehold's in-memory and default durable servers in the durable workload. */
  durableLabels: { memory: string; durable: string };
  /** leasehold's largest session level, and the locks its holders found lost when they let go. */
  /** leasehold's largest sessions level as run, and the level the profile asked for (more than the open-file limit allows here). */
  largeSessions: { label: string; lost: number | undefined; asked: number } | undefined;
  /** The cluster rows' labels for the cluster (via its leader) and for etcd's recipe on the same members. */
  clusterLabels: { leader: string; etcd: string };
  /** The failover row's election TTL, in s. */
  electionTtlS: number;
  /** The mixed row's variant (see `mixedLabel`). */
  mixedVariant: string;
}

/**
 * Issue 16's goals (and the earlier issues' that still stand) against one run's figures. Throughput
 * ratios are paired by pass; a goal whose figures the run lacks is "not measured", never met.
 */
export function evaluateTargets(inputs: TargetInputs): TargetResult[] {
  const get: Lookup = (workload, variant, system, metric) => {
    const value = find(inputs.aggregates, workload, variant, system)?.metrics[metric];
    return value !== undefined && Number.isFinite(value) ? value : undefined;
  };
  const results: TargetResult[] = [];
  const atLeast = (target: string, goal: string, value: number | undefined, bound: number, show: (value: number | undefined) => string) =>
    results.push({ target, goal, measured: show(value), status: value === undefined ? "not measured" : value >= bound ? "met" : "missed" });
  const atMost = (target: string, goal: string, value: number | undefined, bound: number, show: (value: number | undefined) => string) =>
    results.push({ target, goal, measured: show(value), status: value === undefined ? "not measured" : value <= bound ? "met" : "missed" });
  // Throughput and latency ratios pair the passes (see pairedRatio).
  const paired = (workload: Aggregate["workload"], variant: string, system: string, base: string, metric: string, baseVariant = variant) => {
    const value = pairedRatio(find(inputs.aggregates, workload, variant, system), find(inputs.aggregates, workload, baseVariant, base), metric);
    return value !== undefined && Number.isFinite(value) ? value : undefined;
  };
  // A ratio to a zero (e.g. idle CPU below the tick resolution) is 1 when both are zero, infinite otherwise.
  const over = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : b === 0 ? (a === 0 ? 1 : Number.POSITIVE_INFINITY) : a / b;

  for (const clients of inputs.uncontendedClients) {
    const variant = clientsLabel(clients);
    atLeast(`uncontended, ${variant}: pairs/s vs Redis`, "≥ 1.1×", paired("uncontended", variant, "leasehold", "redis", "pairsPerS"), 1.1, ratio);
    atLeast(`uncontended, ${variant}: pairs/s vs etcd (leasehold in memory)`, "≥ 10×", paired("uncontended", variant, "leasehold", "etcd", "pairsPerS"), 10, ratio);
    // The server process's utime + stime over the window, divided by the pairs (workloads/common.ts).
    const cpuUs = (system: string) => get("uncontended", variant, system, "serverCpuUsPerOp");
    atMost(`uncontended, ${variant}: server CPU per pair vs Redis`, "≤ 1.2×", paired("uncontended", variant, "leasehold", "redis", "serverCpuUsPerOp"), 1.2, (value) =>
      `${ratio(value)} (${us(cpuUs("leasehold"))} vs ${us(cpuUs("redis"))})`,
    );
  }
  const contended = inputs.contendedVariant;
  atLeast("contended: grants to another client", "≥ 99 %", get("contended", contended, "leasehold", "otherClientShare"), 0.99, pct);
  atLeast("contended: Jain fairness index", "≥ 0.99", get("contended", contended, "leasehold", "jain"), 0.99, (value) => num(value, 4));
  atLeast("contended: grants/s vs Redis", "≥ 1.0×", paired("contended", contended, "leasehold", "redis", "grantsPerS"), 1, ratio);
  atLeast("contended: grants/s vs etcd", "≥ 20×", paired("contended", contended, "leasehold", "etcd", "grantsPerS"), 20, ratio);
  atMost("handoff p50 (release done → next grant)", "≤ 0.1 ms", get("contended", contended, "leasehold", "handoffP50Ms"), 0.1, ms);
  atMost("handoff p99", "≤ 1 ms", get("contended", contended, "leasehold", "handoffP99Ms"), 1, ms);

  const shallow = inputs.queueDepths[0];
  const deep = inputs.queueDepths[inputs.queueDepths.length - 1];
  if (shallow !== undefined && deep !== undefined) {
    const at = (depth: number) => get("queue-depth", waitersLabel(depth), "leasehold", "grantP50Ms");
    atMost(
      `queue depth: grant p50 at ${num(deep)} vs ${num(shallow)} waiters`,
      "≤ 1.5×",
      paired("queue-depth", waitersLabel(deep), "leasehold", "leasehold", "grantP50Ms", waitersLabel(shallow)),
      1.5,
      (value) => `${ratio(value)} (${ms(at(deep))} vs ${ms(at(shallow))})`,
    );
  }
  const both = (level: string | undefined, metric: string) =>
    level === undefined ? { mine: undefined, redis: undefined } : { mine: get("sessions", level, "leasehold", metric), redis: get("sessions", level, "redis", metric) };
  // Memory at every level both measured: at a low level a server's fixed growth (heap reserve, compiled
  // code) weighs on each session, at a high one the sessions themselves do; the goal holds at both.
  for (const level of inputs.sessionsVariants.length > 0 ? inputs.sessionsVariants : [undefined]) {
    const memory = both(level, "bytesPerSession");
    atMost(`memory per idle session vs Redis${level === undefined ? "" : ` (${level})`}`, "≤ 0.8×", over(memory.mine, memory.redis), 0.8, (value) =>
      `${ratio(value)} (${bytes(memory.mine)} vs ${bytes(memory.redis)})`,
    );
  }
  const level = inputs.sessionsVariants.at(-1);
  const cpu = both(level, "idleServerCpuPct");
  atMost(`idle server CPU vs Redis${level === undefined ? "" : ` (${level})`}`, "≤ 2×", over(cpu.mine, cpu.redis), 2, (value) =>
    `${ratio(value)} (${num(cpu.mine)} % vs ${num(cpu.redis)} % of a core)`,
  );
  for (const op of ["put", "get"]) {
    atLeast(`key-value ${op}, 16 clients: ops/s vs Redis`, "≥ 1.1×", paired("key-value", op, "leasehold", "redis", "opsPerS"), 1.1, ratio);
  }
  // The default durable mode (an fsync per group commit) against in-memory; the durable workload lists `--memory` first.
  // Issue 16 raised put's goal to 0.7×; lock pairs keep the earlier 0.5× (the issue sets none for them).
  for (const [variant, bound] of [["put, 16 clients", 0.7], ["lock pairs, 16 clients", 0.5]] as const) {
    atLeast(`durable (\`--data\`) ${variant}: ops/s vs in-memory`, `≥ ${bound}×`, paired("durable", variant, inputs.durableLabels.durable, inputs.durableLabels.memory, "opsPerS"), bound, ratio);
  }
  // etcd writes every change to its disk log: set against leasehold with its default durable storage
  // too (the uncontended rows above use the in-memory server). Not paired: different workloads' passes.
  const durablePairs = get("durable", "lock pairs, 16 clients", inputs.durableLabels.durable, "opsPerS");
  atLeast("durable (`--data`) lock pairs, 16 clients vs etcd (uncontended, 16 clients)", "≥ 15×", over(durablePairs, get("uncontended", "16 clients", "etcd", "pairsPerS")), 15, ratio);
  for (const attack of ["refused-frame flood", "session parking"]) {
    atMost(
      `under attack (${attack}): bystander p99 vs quiet`,
      "≤ 5×",
      paired("under-attack", attack, "leasehold", "leasehold", "p99Ms", "quiet"),
      5,
      (value) =>
        `${ratio(value)} (${ms(get("under-attack", attack, "leasehold", "p99Ms"))} vs ${ms(get("under-attack", "quiet", "leasehold", "p99Ms"))}; a busy core alone: ${ms(get("under-attack", "busy core (control)", "leasehold", "p99Ms"))})`,
    );
  }
  // The cluster against etcd's own recipe on the same 3 members, each variant the cluster workload ran.
  for (const entry of inputs.aggregates.filter((each) => each.workload === "cluster" && each.system === inputs.clusterLabels.leader)) {
    atLeast(`cluster ${entry.variant}: ops/s vs etcd's recipe on the same cluster`, "≥ 5×", paired("cluster", entry.variant, inputs.clusterLabels.leader, inputs.clusterLabels.etcd, "opsPerS"), 5, ratio);
  }
  for (const entry of inputs.aggregates.filter((each) => each.workload === "failover")) {
    const p50 = entry.metrics.p50Ms;
    results.push({
      target: `failover (${entry.variant}): to the first grant, p50`,
      goal: `< 3 s at an election TTL of ${inputs.electionTtlS} s`,
      measured: p50 === undefined ? "–" : `${ms(p50)} (max ${ms(entry.metrics.maxMs)}, ${num(entry.metrics.failovers)} of ${num(entry.metrics.kills)} kills)`,
      status: p50 === undefined || !Number.isFinite(p50) ? "not measured" : p50 < 3_000 && (entry.metrics.failed ?? 0) === 0 ? "met" : "missed",
    });
  }
  const mixed = inputs.mixedVariant;
  const cycles = (system: string, metric: string) => get("mixed", mixed, system, metric);
  atLeast(`mixed (${mixed}): cycles/s vs Redis`, "≥ 1.1×", paired("mixed", mixed, "leasehold", "redis", "cyclesPerS"), 1.1, (value) =>
    `${ratio(value)} (cycle p99 ${ms(cycles("leasehold", "cycleP99Ms"))} vs ${ms(cycles("redis", "cycleP99Ms"))}; Jain ${num(cycles("leasehold", "jain"), 4)} vs ${num(cycles("redis", "jain"), 4)})`,
  );
  for (const entry of inputs.aggregates.filter((each) => each.workload === "cluster-sessions")) {
    const { sessionsOpen: open, lostLocks: lost } = entry.metrics;
    results.push({
      target: `${entry.variant}: held, no lease lost`,
      goal: "50,000 sessions, 0 lost",
      measured: open === undefined || lost === undefined ? "–" : `${num(open)} sessions, ${num(lost)} lost (leader ${num(entry.metrics.leaderRssMiB)} MiB, ${num(entry.metrics.leaderIdleCpuPct)} % of a core idle)`,
      status: open === undefined || lost === undefined ? "not measured" : open >= 50_000 && lost === 0 ? "met" : "missed",
    });
  }
  if (inputs.largeSessions !== undefined) {
    // One server holds one descriptor per session, so its largest level is what the hard open-file limit allows
    // (plan.ts caps it, and says so in the notes); 50,000 held sessions is the multiplexing gateways' row above,
    // which is how issue 16 asks for it to be shown on a machine whose limit is 20,000.
    const { label, lost, asked } = inputs.largeSessions;
    const open = get("sessions", label, "leasehold", "sessionsOpen");
    const level = Number(label.replace(/\D/g, ""));
    const capped = level < asked;
    results.push({
      target: `one server, ${label} held, no lease lost`,
      goal: capped ? `all ${num(level)} the open-file limit allows of ${num(asked)} asked (50,000: the gateways' row), 0 lost` : `${num(asked)} sessions, 0 lost`,
      measured: open === undefined || lost === undefined ? "–" : `${num(open)} sessions, ${num(lost)} lost`,
      status: open === undefined || lost === undefined ? "not measured" : open >= level && lost === 0 ? "met" : "missed",
    });
  }
  return results;
}

export function clientsLabel(clients: number): string {
  return `${clients} ${clients === 1 ? "client" : "clients"}`;
}

export function waitersLabel(depth: number): string {
  return `${depth.toLocaleString("en-US")} waiters`;
}

export function mixedLabel(params: { clients: number; names: number; puts: number }): string {
  return `${clientsLabel(params.clients)}, ${num(params.names)} locks, ${params.puts} fenced puts per cycle`;
}

export function sessionsLabel(count: number): string {
  return `${count.toLocaleString("en-US")} sessions`;
}
