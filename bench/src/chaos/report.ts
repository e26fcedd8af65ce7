import { VIOLATION_CLASSES, type CheckResult } from "./checker.js";
import { FAULT_KINDS, type HistoryEvent } from "./history.js";

/** The run as it is described in the report's first lines. */
export interface RunFacts {
  readonly minutes: number;
  readonly topology: string;
  readonly workers: number;
  readonly locks: number;
  readonly ttlMs: number;
  readonly seed: number;
  readonly historyDir: string;
}

/** The machine-readable summary: the last line the runner prints, also `summary.json` beside the history. */
export interface ChaosSummary {
  readonly run: RunFacts;
  readonly faults: CheckResult["faults"];
  /** Faults by kind and what they hit: "kill-member gateway (leader)", "pause-member etcd", "cut-worker worker". */
  readonly faultTargets: Readonly<Record<string, number>>;
  readonly counts: CheckResult["counts"];
  /** Per fault kind: heals checked, and the time until every lock was held again (ms), p50 and max. */
  readonly recovery: Record<string, { readonly heals: number; readonly p50Ms: number | null; readonly maxMs: number | null }>;
  readonly violations: CheckResult["byClass"];
  readonly firstViolations: readonly string[];
  readonly passed: boolean;
}

/** How many violations the report spells out (they are all counted). */
const LISTED = 20;

export function summarize(run: RunFacts, result: CheckResult, events: readonly HistoryEvent[]): ChaosSummary {
  const recovery = Object.fromEntries(
    FAULT_KINDS.map((kind) => {
      const times = [...result.recoveryMs[kind]].sort((a, b) => a - b);
      const p50 = times.length === 0 ? null : Math.round(times[Math.floor((times.length - 1) / 2)]!);
      return [kind, { heals: times.length, p50Ms: p50, maxMs: times.length === 0 ? null : Math.round(times[times.length - 1]!) }];
    }),
  );
  return {
    run,
    faults: result.faults,
    faultTargets: faultTargets(events),
    counts: result.counts,
    recovery,
    violations: result.byClass,
    firstViolations: result.violations.slice(0, LISTED).map((violation) => `${violation.class}: ${violation.message}`),
    passed: result.violations.length === 0,
  };
}

export function formatSummary(summary: ChaosSummary): string {
  const { run, counts } = summary;
  const faultTotal = Object.values(summary.faults).reduce((sum, count) => sum + count, 0);
  const violationTotal = Object.values(summary.violations).reduce((sum, count) => sum + count, 0);
  const lines = [
    `chaos: ${run.minutes} min against ${run.topology}; ${run.workers} workers, ${run.locks} locks, TTL ${run.ttlMs} ms, seed ${run.seed}`,
    `history: ${run.historyDir}`,
    `faults (${faultTotal}): ${FAULT_KINDS.map((kind) => `${kind} ${summary.faults[kind]}`).join(", ")}`,
    `faults by target: ${Object.entries(summary.faultTargets).map(([target, count]) => `${target} ${count}`).join(", ")}`,
    `grants ${counts.grants}; fenced puts acknowledged ${counts.putsAcknowledged}, refused as stale ${counts.putsFenced}; increments ${counts.increments}`,
    `holders acting after their deadline (paused) ${counts.lateActions}; outcomes unknown ${counts.indeterminate}; reads ${counts.reads}`,
    `held again after a heal (ms, p50 / max over heals; bound TTL + 1 s = ${run.ttlMs + 1_000}): ${FAULT_KINDS.map((kind) => {
      const each = summary.recovery[kind]!;
      return `${kind} ${each.p50Ms ?? "-"} / ${each.maxMs ?? "-"} (${each.heals})`;
    }).join(", ")}; heals not checked (overlapping the end) ${counts.healsSkipped}`,
    `violations (${violationTotal}): ${VIOLATION_CLASSES.map((name) => `${name} ${summary.violations[name]}`).join(", ")}`,
    ...summary.firstViolations.map((line) => `  ${line}`),
    summary.passed ? "PASS" : "FAIL",
  ];
  return lines.join("\n");
}

/** Counts the faults started by kind and by the kind of process hit (a numbered name without its number). */
function faultTargets(events: readonly HistoryEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of events) {
    if (event.type !== "fault" || event.phase !== "start") continue;
    const kindOfProcess = /^w\d+$/.test(event.target) ? "worker" : event.target.replace(/-\d+$/, "");
    const key = `${event.kind} ${kindOfProcess}${event.role === undefined ? "" : ` (${event.role})`}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}
