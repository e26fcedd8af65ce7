import { describe, expect, it } from "vitest";
import type { MachineFacts } from "../infra/machine.js";
import { QUICK } from "../profile.js";
import { aggregate, type Row } from "../results.js";
import { renderMarkdown } from "./markdown.js";
import { evaluateTargets, mixedLabel, type TargetInputs } from "./targets.js";

const VARIANT = mixedLabel({ clients: 100, names: 50, puts: 2 });

/** Two passes of the mixed row: leasehold's cycles/s is 1.2× Redis's in pass 1 and 1.0× in pass 2. */
const ROWS: Row[] = [
  mixedRow("leasehold", 1, { cyclesPerS: 1_200, cycleP99Ms: 4, jain: 0.999, fewestCyclesShare: 0.9, fenceRefused: 0, staleFenceAccepted: 0 }),
  mixedRow("redis", 1, { cyclesPerS: 1_000, cycleP99Ms: 20, jain: 0.8, fewestCyclesShare: 0.1, fenceRefused: 0 }),
  mixedRow("leasehold", 2, { cyclesPerS: 1_100, cycleP99Ms: 6, jain: 0.997, fewestCyclesShare: 0.8, fenceRefused: 1, staleFenceAccepted: 0 }),
  mixedRow("redis", 2, { cyclesPerS: 1_100, cycleP99Ms: 30, jain: 0.7, fewestCyclesShare: 0, fenceRefused: 0 }),
];

describe("the mixed row's target", () => {
  it("is the median of the per-pass ratios of cycles/s against Redis, shown with both cycle p99s and Jain indexes", () => {
    const target = mixedTarget(ROWS);
    expect(target).toEqual({
      target: `mixed (${VARIANT}): cycles/s vs Redis`,
      goal: "≥ 1.1×",
      measured: "1.10× (cycle p99 5 ms vs 25 ms; Jain 0.9980 vs 0.7500)",
      status: "met",
    });
  });

  it("is missed below 1.1× and not measured without Redis", () => {
    const slower = ROWS.map((row) => (row.system === "leasehold" ? { ...row, metrics: { ...row.metrics, cyclesPerS: 1_000 } } : row));
    expect(mixedTarget(slower)?.status).toBe("missed");
    expect(mixedTarget(ROWS.filter((row) => row.system !== "redis"))?.status).toBe("not measured");
  });
});

describe("the mixed row's section", () => {
  it("has a table with the cycle and wait percentiles, fairness, refused fenced puts (summed over passes) and the ratio to Redis", () => {
    const markdown = render(ROWS);
    const section = markdown.slice(markdown.indexOf("## 10. Mixed"));
    expect(section).toContain("| system | cycles/s | cycle p50 | cycle p99 | acquire wait p50 | acquire wait p99 | Jain | fewest cycles / mean | fenced puts refused | stale-token put accepted (probe) |");
    const leasehold = section.split("\n").find((line) => line.startsWith("| leasehold |"));
    expect(leasehold).toBe("| leasehold | 1,150 | – | 5 ms | – | – | 0.9980 | 85.00 % | 1 | 0 | – | – | 1.10× |");
  });
});

describe("the safety summary", () => {
  it("counts a refused fenced put or an accepted stale-token put of the mixed row as a violation", () => {
    const clean = ROWS.map((row) => ({ ...row, metrics: { ...row.metrics, fenceRefused: 0, exclusionViolations: 0, tokenViolations: 0, lostLocks: 0 } }));
    expect(render(clean)).toContain("No violation observed: in 2 lock measurements");
    const probeFailed = clean.map((row) => (row.system === "redis" && row.pass === 2 ? { ...row, metrics: { ...row.metrics, staleFenceAccepted: 1 } } : row));
    expect(render(probeFailed)).toContain("**1 measurement(s) observed a violation**");
    const refused = clean.map((row) => (row.system === "leasehold" && row.pass === 1 ? { ...row, metrics: { ...row.metrics, fenceRefused: 2 } } : row));
    expect(render(refused)).toContain("**1 measurement(s) observed a violation**");
  });
});

function mixedRow(system: string, pass: number, metrics: Row["metrics"]): Row {
  return { workload: "mixed", variant: VARIANT, system, pass, metrics };
}

function mixedTarget(rows: Row[]) {
  const inputs: TargetInputs = {
    aggregates: aggregate(rows),
    uncontendedClients: [],
    contendedVariant: "16 clients",
    queueDepths: [],
    sessionsVariants: [],
    durableLabels: { memory: "memory", durable: "durable" },
    largeSessions: undefined,
    clusterLabels: { leader: "leader", etcd: "etcd" },
    electionTtlS: 2,
    mixedVariant: VARIANT,
  };
  return evaluateTargets(inputs).find((target) => target.target.startsWith("mixed"));
}

function render(rows: Row[]): string {
  const machine: MachineFacts = {
    cpuModel: "test",
    cores: 2,
    memoryGiB: 1,
    kernel: "k",
    os: "os",
    node: "v20",
    redis: "redis",
    etcd: "etcd",
    fileLimit: { soft: 1, hard: 1 },
  };
  return renderMarkdown({
    profile: QUICK,
    command: "test",
    startedAt: new Date(0),
    durationS: 1,
    machine,
    servers: [],
    aggregates: aggregate(rows),
    targets: [],
    layout: [{ workload: "mixed", variants: [VARIANT], systems: ["leasehold", "redis"] }],
    notes: [],
    resultsFile: "x.jsonl",
    load: { start: 0, end: 0 },
  });
}
