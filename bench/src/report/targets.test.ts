import { describe, expect, it } from "vitest";
import { aggregate, type Row } from "../results.js";
import type { Metrics } from "../workloads/common.js";
import { evaluateTargets, sessionsLabel, type TargetInputs, type TargetResult } from "./targets.js";

describe("evaluateTargets: issue 16's goals", () => {
  it("wants 1.1× Redis's uncontended pairs and key-value ops, paired by pass", () => {
    const targets = evaluate([
      ...both("uncontended", "1 client", { pairsPerS: 1_100 }, { pairsPerS: 1_000 }),
      ...both("uncontended", "16 clients", { pairsPerS: 1_090 }, { pairsPerS: 1_000 }),
      ...both("key-value", "put", { opsPerS: 2_200 }, { opsPerS: 2_000 }),
      ...both("key-value", "get", { opsPerS: 2_000 }, { opsPerS: 2_000 }),
    ]);
    expect(row(targets, "uncontended, 1 client: pairs/s vs Redis")).toMatchObject({ goal: "≥ 1.1×", measured: "1.10×", status: "met" });
    expect(row(targets, "uncontended, 16 clients: pairs/s vs Redis")).toMatchObject({ goal: "≥ 1.1×", status: "missed" });
    expect(row(targets, "key-value put, 16 clients: ops/s vs Redis")).toMatchObject({ goal: "≥ 1.1×", status: "met" });
    expect(row(targets, "key-value get, 16 clients: ops/s vs Redis")).toMatchObject({ goal: "≥ 1.1×", measured: "1×", status: "missed" });
  });

  it("states the server's CPU per uncontended pair against Redis's, at most 1.2×", () => {
    const targets = evaluate([
      ...both("uncontended", "1 client", { serverCpuUsPerOp: 60 }, { serverCpuUsPerOp: 50 }),
      ...both("uncontended", "16 clients", { serverCpuUsPerOp: 111 }, { serverCpuUsPerOp: 39 }),
    ]);
    expect(row(targets, "uncontended, 1 client: server CPU per pair vs Redis")).toEqual({
      target: "uncontended, 1 client: server CPU per pair vs Redis",
      goal: "≤ 1.2×",
      measured: "1.20× (60 µs vs 50 µs)",
      status: "met",
    });
    expect(row(targets, "uncontended, 16 clients: server CPU per pair vs Redis")).toMatchObject({ measured: "2.85× (111 µs vs 39 µs)", status: "missed" });
  });

  it("wants memory per idle session at most 0.8× Redis's at every level both measured, one row per level", () => {
    const targets = evaluate(
      [
        ...both("sessions", sessionsLabel(1_000), { bytesPerSession: 24.7 * 1024 }, { bytesPerSession: 15.1 * 1024 }),
        ...both("sessions", sessionsLabel(10_000), { bytesPerSession: 8 * 1024, idleServerCpuPct: 20 }, { bytesPerSession: 11 * 1024, idleServerCpuPct: 11 }),
      ],
      { sessionsVariants: [sessionsLabel(1_000), sessionsLabel(10_000)] },
    );
    const memory = targets.filter((target) => target.target.startsWith("memory per idle session"));
    expect(memory).toEqual([
      { target: "memory per idle session vs Redis (1,000 sessions)", goal: "≤ 0.8×", measured: "1.64× (24.7 KiB vs 15.1 KiB)", status: "missed" },
      { target: "memory per idle session vs Redis (10,000 sessions)", goal: "≤ 0.8×", measured: "0.727× (8 KiB vs 11 KiB)", status: "met" },
    ]);
    // Idle CPU keeps its goal, at the largest level.
    expect(row(targets, "idle server CPU vs Redis (10,000 sessions)")).toMatchObject({ goal: "≤ 2×", status: "met" });
  });

  it("wants durable put at 0.7× of in-memory and durable pairs at 15× etcd's uncontended pairs", () => {
    const targets = evaluate([
      durable("put, 16 clients", 1_000, 690),
      durable("lock pairs, 16 clients", 1_000, 600),
      measurement("uncontended", "16 clients", "etcd", { pairsPerS: 40 }),
    ]);
    expect(row(targets, "durable (`--data`) put, 16 clients: ops/s vs in-memory")).toMatchObject({ goal: "≥ 0.7×", measured: "0.690×", status: "missed" });
    expect(row(targets, "durable (`--data`) lock pairs, 16 clients: ops/s vs in-memory")).toMatchObject({ goal: "≥ 0.5×", status: "met" });
    expect(row(targets, "durable (`--data`) lock pairs, 16 clients vs etcd (uncontended, 16 clients)")).toMatchObject({ goal: "≥ 15×", measured: "15×", status: "met" });
  });

  it("holds one server to the sessions its open-file limit allows, and to 50,000 where nothing capped it", () => {
    const capped = sessionsLabel(19_744);
    const run = (open: number, lost: number, asked: number) =>
      row(evaluate([measurement("sessions", capped, "leasehold", { sessionsOpen: open })], { largeSessions: { label: capped, lost, asked } }), `one server, ${capped} held, no lease lost`);
    expect(run(19_744, 0, 50_000)).toMatchObject({ goal: "all 19,744 the open-file limit allows of 50,000 asked (50,000: the gateways' row), 0 lost", status: "met" });
    expect(run(19_743, 0, 50_000)).toMatchObject({ status: "missed" });
    expect(run(19_744, 1, 50_000)).toMatchObject({ status: "missed" });
    expect(run(19_744, 0, 19_744)).toMatchObject({ goal: "19,744 sessions, 0 lost", status: "met" });
  });

  it("says 'not measured' for a goal whose figures the run lacks, never met", () => {
    const targets = evaluate([], { sessionsVariants: [] });
    for (const name of ["uncontended, 16 clients: server CPU per pair vs Redis", "memory per idle session vs Redis", "key-value put, 16 clients: ops/s vs Redis"]) {
      expect(row(targets, name)).toMatchObject({ measured: expect.stringMatching(/^–/), status: "not measured" });
    }
  });
});

const LABELS = { memory: "leasehold --memory", durable: "leasehold --data" };

function evaluate(rows: readonly (Row | readonly Row[])[], overrides: Partial<TargetInputs> = {}): TargetResult[] {
  return evaluateTargets({
    aggregates: aggregate(rows.flat()),
    uncontendedClients: [1, 16],
    contendedVariant: "16 clients",
    queueDepths: [10, 10_000],
    sessionsVariants: [sessionsLabel(10_000)],
    durableLabels: LABELS,
    largeSessions: undefined,
    clusterLabels: { leader: "cluster", etcd: "etcd" },
    electionTtlS: 2,
    mixedVariant: "100 clients, 50 locks",
    ...overrides,
  });
}

function row(targets: readonly TargetResult[], name: string): TargetResult | undefined {
  return targets.find((target) => target.target === name);
}

/** leasehold's and Redis's figures for one variant, in one pass. */
function both(workload: Row["workload"], variant: string, leasehold: Metrics, redis: Metrics): Row[] {
  return [measurement(workload, variant, "leasehold", leasehold), measurement(workload, variant, "redis", redis)];
}

function durable(variant: string, memoryOpsPerS: number, durableOpsPerS: number): Row[] {
  return [measurement("durable", variant, LABELS.memory, { opsPerS: memoryOpsPerS }), measurement("durable", variant, LABELS.durable, { opsPerS: durableOpsPerS })];
}

function measurement(workload: Row["workload"], variant: string, system: string, metrics: Metrics): Row {
  return { workload, variant, system, pass: 1, metrics };
}
