import { find, pairedRatio, type Aggregate } from "../results.js";
import { bytes, ms, num, pct, ratio } from "./format.js";

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
  /** The largest session level measured for Redis and leasehold alike. */
  sessionsVariant: string | undefined;
  /** The labels of leasehold's in-memory and default durable servers in the durable workload. */
  durableLabels: { memory: string; durable: string };
  /** leasehold's largest session level, and the locks its holders found lost when they let go. */
  largeSessions: { label: string; lost: number | undefined } | undefined;
  /** The cluster rows' labels for the cluster (via its leader) and for etcd's recipe on the same members. */
  clusterLabels: { leader: string; etcd: string };
  /** The failover row's election TTL, in s. */
  electionTtlS: number;
}

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
    atLeast(`uncontended, ${variant}: pairs/s vs Redis`, "≥ 1.0×", paired("uncontended", variant, "leasehold", "redis", "pairsPerS"), 1, ratio);
    atLeast(`uncontended, ${variant}: pairs/s vs etcd (leasehold in memory)`, "≥ 10×", paired("uncontended", variant, "leasehold", "etcd", "pairsPerS"), 10, ratio);
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
  const level = inputs.sessionsVariant;
  const both = (metric: string) =>
    level === undefined ? { mine: undefined, redis: undefined } : { mine: get("sessions", level, "leasehold", metric), redis: get("sessions", level, "redis", metric) };
  const memory = both("bytesPerSession");
  atMost(`memory per idle session vs Redis${level === undefined ? "" : ` (${level})`}`, "≤ 1.0×", over(memory.mine, memory.redis), 1, (value) =>
    `${ratio(value)} (${bytes(memory.mine)} vs ${bytes(memory.redis)})`,
  );
  const cpu = both("idleServerCpuPct");
  atMost(`idle server CPU vs Redis${level === undefined ? "" : ` (${level})`}`, "≤ 2×", over(cpu.mine, cpu.redis), 2, (value) =>
    `${ratio(value)} (${num(cpu.mine)} % vs ${num(cpu.redis)} % of a core)`,
  );
  for (const op of ["put", "get"]) {
    atLeast(`key-value ${op}, 16 clients: ops/s vs Redis`, "≥ 1.0×", paired("key-value", op, "leasehold", "redis", "opsPerS"), 1, ratio);
  }
  // The default durable mode (an fsync per group commit) against in-memory; the durable workload lists `--memory` first.
  for (const variant of ["put, 16 clients", "lock pairs, 16 clients"]) {
    atLeast(`durable (\`--data\`) ${variant}: ops/s vs in-memory`, "≥ 0.5×", paired("durable", variant, inputs.durableLabels.durable, inputs.durableLabels.memory, "opsPerS"), 0.5, ratio);
  }
  // etcd writes every change to its disk log: set against leasehold with its default durable storage
  // too (the uncontended rows above use the in-memory server). Not paired: different workloads' passes.
  const durablePairs = get("durable", "lock pairs, 16 clients", inputs.durableLabels.durable, "opsPerS");
  atLeast("durable (`--data`) lock pairs, 16 clients vs etcd (uncontended, 16 clients)", "≥ 10×", over(durablePairs, get("uncontended", "16 clients", "etcd", "pairsPerS")), 10, ratio);
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
    const { label, lost } = inputs.largeSessions;
    const open = get("sessions", label, "leasehold", "sessionsOpen");
    results.push({
      target: `${label} held, no lease lost`,
      goal: "50,000 sessions, 0 lost",
      measured: open === undefined || lost === undefined ? "–" : `${num(open)} sessions, ${num(lost)} lost`,
      status: open === undefined || lost === undefined ? "not measured" : open >= 50_000 && lost === 0 ? "met" : "missed",
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

export function sessionsLabel(count: number): string {
  return `${count.toLocaleString("en-US")} sessions`;
}
