import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { median } from "./metrics/stats.js";
import type { Metrics } from "./workloads/common.js";

export type WorkloadId = "uncontended" | "contended" | "queue-depth" | "sessions" | "key-value" | "durable" | "under-attack" | "cluster" | "failover" | "mixed" | "cluster-sessions";

/** One system, one variant of one workload, one pass. */
export interface Row {
  workload: WorkloadId;
  variant: string;
  system: string;
  pass: number;
  metrics: Metrics;
  /** Set when the measurement failed or does not apply; `metrics` is then empty. */
  skipped?: string;
  note?: string;
}

/** Medians over passes of one (workload, variant, system). */
export interface Aggregate {
  workload: WorkloadId;
  variant: string;
  system: string;
  passes: number;
  metrics: Metrics;
  /** Each measured pass's metrics, for ratios paired by pass (see `pairedRatio`). */
  byPass: Map<number, Metrics>;
  skipped?: string;
  notes: string[];
}

/** Metrics that are counts of bad events: summed over passes rather than taken as a median. */
const SUMMED = new Set(["exclusionViolations", "tokenViolations", "lostLocks", "refused", "missing", "sessionsFailed", "failed", "fenceRefused", "staleFenceAccepted"]);

export function aggregate(rows: readonly Row[]): Aggregate[] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = `${row.workload}\u0000${row.variant}\u0000${row.system}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0] as Row;
    const measured = group.filter((row) => row.skipped === undefined);
    const names = new Set(measured.flatMap((row) => Object.keys(row.metrics)));
    const metrics: Metrics = {};
    for (const name of names) {
      const values = measured.map((row) => row.metrics[name]).filter((value): value is number => value !== undefined);
      metrics[name] = SUMMED.has(name) ? values.reduce((sum, value) => sum + value, 0) : median(values);
    }
    const notes = [...new Set(group.flatMap((row) => (row.note === undefined ? [] : [row.note])))];
    const skipped = measured.length === 0 ? group.find((row) => row.skipped !== undefined)?.skipped : undefined;
    return {
      workload: first.workload,
      variant: first.variant,
      system: first.system,
      passes: measured.length,
      metrics,
      byPass: new Map(measured.map((row) => [row.pass, row.metrics])),
      ...(skipped !== undefined && { skipped }),
      notes: [...notes, ...group.filter((row) => row.skipped !== undefined && measured.length > 0).map((row) => `pass ${row.pass}: ${row.skipped}`)],
    };
  });
}

export function find(aggregates: readonly Aggregate[], workload: WorkloadId, variant: string, system: string): Aggregate | undefined {
  return aggregates.find((entry) => entry.workload === workload && entry.variant === variant && entry.system === system);
}

/**
 * `metric` of `of` over that of `base`: the median of the ratios of the passes both measured (the
 * passes alternate the systems' order, so a pair ran side by side), or of their medians when they
 * share no pass. A ratio of medians would pair one system's good pass with the other's bad one.
 */
export function pairedRatio(of: Aggregate | undefined, base: Aggregate | undefined, metric: string): number | undefined {
  if (of === undefined || base === undefined) return undefined;
  const ratios: number[] = [];
  for (const [pass, metrics] of of.byPass) {
    const mine = metrics[metric];
    const theirs = base.byPass.get(pass)?.[metric];
    if (mine !== undefined && theirs !== undefined && theirs !== 0) ratios.push(mine / theirs);
  }
  if (ratios.length > 0) return median(ratios);
  const mine = of.metrics[metric];
  const theirs = base.metrics[metric];
  return mine === undefined || theirs === undefined || theirs === 0 ? undefined : mine / theirs;
}

/** Raw results, one JSON object per line: the run's facts first, then every row. */
export function writeJsonLines(path: string, header: object, rows: readonly Row[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const lines = [JSON.stringify({ type: "run", ...header }), ...rows.map((row) => JSON.stringify({ type: "measurement", ...row }))];
  writeFileSync(path, `${lines.join("\n")}\n`);
}
