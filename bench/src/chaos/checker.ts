import { FAULT_KINDS, type FaultKind, type HistoryEvent, type Invocation, type Outcome } from "./history.js";

/**
 * The checker of a chaos run's merged history. It knows nothing of the topology: the same rules hold
 * for one server and for a cluster.
 *
 * - overlap: no two clients believe they hold one lock at the same moment. A holder believes from the
 *   grant's arrival until the first of: it invoked the release, it saw the lock lost, and its own
 *   deadline for the lease as last recorded while it still saw the lock held. Deadlines, not the
 *   moments timers fired: a paused holder (SIGSTOP, or starved of CPU) acts late, but its belief ended
 *   at its deadline, and what it sends late is fencing's to refuse.
 * - stale-write: an acknowledged fenced put lies within its token's hold (after the grant, before any
 *   later grant of the lock), and the acknowledged puts of a lock in revision order carry non-decreasing
 *   tokens; a refused put is never read back.
 * - token-order: tokens and revisions come from one counter: none is handed out twice, and an operation
 *   answered before another was invoked got the smaller number (so tokens strictly grow per lock, also
 *   across restarts).
 * - lost-write: every read (after each fault and at the end) includes every write acknowledged before it
 *   was invoked, and nothing that was never written: a counter is at least its acknowledged increments
 *   and at most its invoked ones; a key is at or past its last acknowledged revision.
 * - unavailable: every lock is held again within TTL + 1 s after each fault heals (checked when no other
 *   fault starts in that window and the run is not stopping).
 * - history: the history itself is inconsistent (an answer without a question).
 */

export const VIOLATION_CLASSES = ["overlap", "stale-write", "token-order", "lost-write", "unavailable", "history"] as const;
export type ViolationClass = (typeof VIOLATION_CLASSES)[number];

export interface Violation {
  readonly class: ViolationClass;
  readonly message: string;
}

export interface CheckOptions {
  readonly ttlMs: number;
  /**
   * Slack when comparing times of two processes (ms). Each process puts its monotonic clock on the
   * epoch once, at its start (performance.timeOrigin): two processes agree to well under 1 ms.
   */
  readonly clockToleranceMs?: number;
}

export interface CheckResult {
  readonly violations: Violation[];
  readonly byClass: Record<ViolationClass, number>;
  readonly faults: Record<FaultKind, number>;
  /** Per fault kind, the time (ms) from each checked heal until every lock was held again. */
  readonly recoveryMs: Record<FaultKind, number[]>;
  readonly counts: {
    /** Acknowledged grants. */
    readonly grants: number;
    readonly putsAcknowledged: number;
    /** Fenced puts refused with FENCE_FAILED: a holder that went on after its lock was lost. */
    readonly putsFenced: number;
    readonly increments: number;
    /** Puts or increments invoked by a holder after its belief had ended (it was paused or starved). */
    readonly lateActions: number;
    /** Operations whose outcome is unknown (no answer, or an error that does not say). */
    readonly indeterminate: number;
    readonly reads: number;
    /** Heals not checked for availability: another fault began in the window, or the run was ending. */
    readonly healsSkipped: number;
  };
}

/** Errors after which an operation may or may not have taken effect. */
export const INDETERMINATE_CODES: ReadonlySet<string> = new Set([
  "OUTCOME_UNKNOWN",
  "SESSION_EXPIRED",
  "CLIENT_CLOSED",
  "NOT_CONNECTED",
  "SHUTTING_DOWN",
  "TIMEOUT",
  "INTERNAL",
  "UNEXPECTED",
  "STOPPED",
]);

/** How long after a heal every lock must be held again, beyond the TTL (the issue's "TTL + 1 s"). */
export const RECOVERY_SLACK_MS = 1_000;

export function checkHistory(events: readonly HistoryEvent[], options: CheckOptions): CheckResult {
  const tolerance = options.clockToleranceMs ?? 2;
  const violations: Violation[] = [];
  const report = (violationClass: ViolationClass, message: string) => violations.push({ class: violationClass, message });
  const ops = pairOperations(events, report);
  const grants = grantsOf(ops, events);
  const counts = {
    grants: grants.length,
    putsAcknowledged: 0,
    putsFenced: 0,
    increments: 0,
    lateActions: 0,
    indeterminate: 0,
    reads: 0,
    healsSkipped: 0,
  };
  for (const op of ops.values()) {
    if (isIndeterminate(op)) counts.indeterminate++;
    if (op.call.op === "put" && op.end?.type === "ok") counts.putsAcknowledged++;
    if (op.call.op === "put" && op.end?.type === "fail" && op.end.code === "FENCE_FAILED") counts.putsFenced++;
    if (op.call.op === "incr" && op.end?.type === "ok") counts.increments++;
    if (op.call.op === "read" && op.end?.type === "ok") counts.reads++;
  }
  counts.lateActions = countLateActions(ops, grants);
  checkOverlaps(grants, tolerance, report);
  checkFencedWrites(ops, grants, report);
  checkNumberOrder(ops, tolerance, report);
  checkReads(ops, tolerance, report);
  const faults = checkRecovery(events, grants, options.ttlMs, tolerance, report);
  counts.healsSkipped = faults.skipped;
  const byClass = Object.fromEntries(VIOLATION_CLASSES.map((name) => [name, 0])) as Record<ViolationClass, number>;
  for (const violation of violations) byClass[violation.class]++;
  return { violations, byClass, faults: faults.byKind, recoveryMs: faults.recoveryMs, counts };
}

/** One operation: its invocation and, if it came, its answer. */
interface Operation {
  readonly process: string;
  readonly id: number;
  readonly call: Invocation;
  readonly invokedAt: number;
  end?: { readonly type: "ok"; readonly at: number; readonly result: Outcome } | { readonly type: "fail"; readonly at: number; readonly code: string };
}

/** A grant as its holder believed it: from `start` (the answer) to `end`. */
interface Grant {
  readonly process: string;
  readonly id: number;
  readonly lock: string;
  readonly token: number;
  readonly invokedAt: number;
  readonly start: number;
  readonly end: number;
  /** What ended the belief, for messages. */
  readonly endedBy: "release" | "loss seen" | "deadline";
}

function label(op: { process: string; id: number }): string {
  return `${op.process}#${op.id}`;
}

function pairOperations(events: readonly HistoryEvent[], report: (violationClass: ViolationClass, message: string) => void): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  for (const event of events) {
    if (event.type === "invoke") {
      ops.set(label(event), { process: event.process, id: event.id, call: event.call, invokedAt: event.at });
    } else if (event.type === "ok" || event.type === "fail") {
      const op = ops.get(label(event));
      if (!op || op.end) {
        report("history", `${label(event)}: ${op ? "a second answer" : "an answer without an invocation"} at ${event.at}`);
        continue;
      }
      op.end = event.type === "ok" ? { type: "ok", at: event.at, result: event.result } : { type: "fail", at: event.at, code: event.code };
    }
  }
  return ops;
}

function isIndeterminate(op: Operation): boolean {
  return op.end === undefined || (op.end.type === "fail" && INDETERMINATE_CODES.has(op.end.code));
}

function grantsOf(ops: ReadonlyMap<string, Operation>, events: readonly HistoryEvent[]): Grant[] {
  const holds = new Map<string, { deadline: number; lossSeenAt: number }>();
  for (const event of events) {
    if (event.type !== "hold") continue;
    const seen = holds.get(label(event)) ?? { deadline: Number.NEGATIVE_INFINITY, lossSeenAt: Number.POSITIVE_INFINITY };
    if (event.held) seen.deadline = Math.max(seen.deadline, event.deadline);
    else seen.lossSeenAt = Math.min(seen.lossSeenAt, event.at);
    holds.set(label(event), seen);
  }
  const releases = new Map<string, number>();
  for (const op of ops.values()) {
    if (op.call.op === "release") releases.set(`${op.process}/${op.call.lock}/${op.call.token}`, op.invokedAt);
  }
  const grants: Grant[] = [];
  for (const op of ops.values()) {
    if (op.call.op !== "acquire" || op.end?.type !== "ok" || op.end.result.op !== "acquire") continue;
    const token = op.end.result.token;
    const seen = holds.get(label(op));
    const ends: [number, Grant["endedBy"]][] = [
      [releases.get(`${op.process}/${op.call.lock}/${token}`) ?? Number.POSITIVE_INFINITY, "release"],
      [seen?.lossSeenAt ?? Number.POSITIVE_INFINITY, "loss seen"],
      // Never seen held: no belief past the answer itself.
      [seen?.deadline ?? op.end.at, "deadline"],
    ];
    const [end, endedBy] = ends.reduce((first, each) => (each[0] < first[0] ? each : first));
    grants.push({ process: op.process, id: op.id, lock: op.call.lock, token, invokedAt: op.invokedAt, start: op.end.at, end: Math.max(end, op.end.at), endedBy });
  }
  return grants;
}

function countLateActions(ops: ReadonlyMap<string, Operation>, grants: readonly Grant[]): number {
  const byHolder = new Map(grants.map((grant) => [`${grant.process}/${grant.lock}/${grant.token}`, grant]));
  let late = 0;
  for (const op of ops.values()) {
    if (op.call.op !== "put") continue;
    const grant = byHolder.get(`${op.process}/${op.call.lock}/${op.call.token}`);
    if (grant && op.invokedAt > grant.end) late++;
  }
  return late;
}

function checkOverlaps(grants: readonly Grant[], tolerance: number, report: (violationClass: ViolationClass, message: string) => void): void {
  for (const [lock, ofLock] of groupBy(grants, (grant) => grant.lock)) {
    const sorted = [...ofLock].sort((a, b) => a.start - b.start);
    let longest: Grant | undefined;
    for (const grant of sorted) {
      if (longest && grant.start + tolerance < longest.end) {
        report(
          "overlap",
          `${lock}: ${label(grant)} was granted it (token ${grant.token}) at ${grant.start.toFixed(1)} while ${label(longest)} (token ${longest.token}) believed it held until ${longest.end.toFixed(1)} (${longest.endedBy}), ${(longest.end - grant.start).toFixed(1)} ms later`,
        );
      }
      if (!longest || grant.end > longest.end) longest = grant;
    }
  }
}

function checkFencedWrites(ops: ReadonlyMap<string, Operation>, grants: readonly Grant[], report: (violationClass: ViolationClass, message: string) => void): void {
  const tokensByLock = new Map([...groupBy(grants, (grant) => grant.lock)].map(([lock, ofLock]) => [lock, ofLock.map((grant) => grant.token).sort((a, b) => a - b)]));
  const acked: { op: Operation; lock: string; token: number; revision: number }[] = [];
  for (const op of ops.values()) {
    if (op.call.op === "put" && op.end?.type === "ok" && op.end.result.op === "put") acked.push({ op, lock: op.call.lock, token: op.call.token, revision: op.end.result.revision });
  }
  for (const put of acked) {
    if (put.revision <= put.token) {
      report("stale-write", `${label(put.op)}: a put fenced by token ${put.token} of ${put.lock} was written at revision ${put.revision}, not after the grant`);
      continue;
    }
    const later = firstAbove(tokensByLock.get(put.lock) ?? [], put.token);
    if (later !== undefined && later < put.revision) {
      report("stale-write", `${label(put.op)}: a put fenced by token ${put.token} of ${put.lock} was accepted at revision ${put.revision}, after the lock was granted again with token ${later}`);
    }
  }
  for (const [lock, ofLock] of groupBy(acked, (put) => put.lock)) {
    const sorted = [...ofLock].sort((a, b) => a.revision - b.revision);
    for (const [index, put] of sorted.entries()) {
      const before = sorted[index - 1];
      if (before && put.token < before.token) {
        report("stale-write", `${lock}: ${label(put.op)} (token ${put.token}) was accepted at revision ${put.revision}, after ${label(before.op)} (token ${before.token}) at revision ${before.revision}`);
      }
    }
  }
}

/** Tokens and revisions: unique, and in real-time order; each counter's answers grow in real-time order too. */
function checkNumberOrder(ops: ReadonlyMap<string, Operation>, tolerance: number, report: (violationClass: ViolationClass, message: string) => void): void {
  const numbered: Numbered[] = [];
  const increments: (Numbered & { counter: string })[] = [];
  for (const op of ops.values()) {
    if (op.end?.type !== "ok") continue;
    const result = op.end.result;
    if (result.op === "acquire") numbered.push({ op, n: result.token, what: "token", answeredAt: op.end.at });
    if (result.op === "put") numbered.push({ op, n: result.revision, what: "revision", answeredAt: op.end.at });
    if (result.op === "incr" && op.call.op === "incr") increments.push({ op, n: result.value, what: "value", answeredAt: op.end.at, counter: op.call.counter });
  }
  const seen = new Map<number, Numbered>();
  for (const item of numbered) {
    const first = seen.get(item.n);
    if (first) report("token-order", `${item.n} was handed out twice: ${first.what} of ${label(first.op)} and ${item.what} of ${label(item.op)}`);
    else seen.set(item.n, item);
  }
  for (const message of realTimeOrderProblems(numbered, tolerance)) report("token-order", message);
  for (const [counter, values] of groupBy(increments, (increment) => increment.counter)) {
    for (const message of realTimeOrderProblems(values, tolerance)) report("lost-write", `counter ${counter}: ${message}`);
  }
}

interface Numbered {
  readonly op: Operation;
  readonly n: number;
  readonly what: string;
  readonly answeredAt: number;
}

/** Whenever one was answered before another was invoked, the later must carry the larger number. */
function realTimeOrderProblems(items: readonly Numbered[], tolerance: number): string[] {
  const byAnswer = [...items].sort((a, b) => a.answeredAt - b.answeredAt);
  const byInvocation = [...items].sort((a, b) => a.op.invokedAt - b.op.invokedAt);
  const problems: string[] = [];
  let largest: Numbered | undefined;
  let next = 0;
  for (const item of byInvocation) {
    for (; next < byAnswer.length && byAnswer[next]!.answeredAt + tolerance < item.op.invokedAt; next++) {
      const answered = byAnswer[next]!;
      if (!largest || answered.n > largest.n) largest = answered;
    }
    if (largest && largest.n >= item.n) {
      problems.push(`${label(item.op)} got ${item.what} ${item.n}, not above ${largest.what} ${largest.n} of ${label(largest.op)}, answered ${(item.op.invokedAt - largest.answeredAt).toFixed(1)} ms before it was invoked`);
    }
  }
  return problems;
}

function checkReads(ops: ReadonlyMap<string, Operation>, tolerance: number, report: (violationClass: ViolationClass, message: string) => void): void {
  const increments = new Map<string, Operation[]>();
  const puts = new Map<string, Operation[]>();
  const putsByValue = new Map<string, Operation>();
  for (const op of ops.values()) {
    if (op.call.op === "incr") append(increments, op.call.counter, op);
    if (op.call.op === "put") {
      append(puts, op.call.key, op);
      putsByValue.set(`${op.call.key}=${op.call.value}`, op);
    }
  }
  for (const read of ops.values()) {
    if (read.call.op !== "read" || read.end?.type !== "ok" || read.end.result.op !== "read") continue;
    const { counters, keys } = read.end.result;
    const readEnd = read.end.at;
    const before = (op: Operation) => op.end?.type === "ok" && op.end.at + tolerance < read.invokedAt;
    for (const [counter, value] of Object.entries(counters)) {
      const ofCounter = increments.get(counter) ?? [];
      const acknowledged = ofCounter.filter(before).length;
      const possible = ofCounter.filter((op) => op.invokedAt < readEnd + tolerance && (op.end?.type !== "fail" || INDETERMINATE_CODES.has(op.end.code))).length;
      if (value < acknowledged) report("lost-write", `${label(read)}: counter ${counter} read ${value}, below the ${acknowledged} increments acknowledged before the read`);
      if (value > possible) report("lost-write", `${label(read)}: counter ${counter} read ${value}, above the ${possible} increments that may have happened by then`);
    }
    for (const [key, entry] of Object.entries(keys)) {
      const acknowledged = (puts.get(key) ?? []).filter(before);
      const last = acknowledged.reduce((highest, op) => Math.max(highest, op.end?.type === "ok" && op.end.result.op === "put" ? op.end.result.revision : 0), 0);
      if ((entry?.revision ?? 0) < last) {
        report("lost-write", `${label(read)}: key ${key} read at revision ${entry?.revision ?? "(absent)"}, before the put acknowledged at revision ${last}`);
      }
      if (!entry) continue;
      const writer = putsByValue.get(`${key}=${entry.value}`);
      if (!writer || writer.invokedAt > readEnd + tolerance) {
        report("lost-write", `${label(read)}: key ${key} read ${JSON.stringify(entry.value)}, which no put had written`);
      } else if (writer.end?.type === "fail" && !INDETERMINATE_CODES.has(writer.end.code)) {
        report("stale-write", `${label(read)}: key ${key} read ${JSON.stringify(entry.value)}, written by ${label(writer)}, which was refused with ${writer.end.code}`);
      } else if (writer.end?.type === "ok" && writer.end.result.op === "put" && writer.end.result.revision !== entry.revision) {
        report("lost-write", `${label(read)}: key ${key} read ${JSON.stringify(entry.value)} at revision ${entry.revision}, acknowledged at revision ${writer.end.result.revision}`);
      }
    }
  }
}

function checkRecovery(
  events: readonly HistoryEvent[],
  grants: readonly Grant[],
  ttlMs: number,
  tolerance: number,
  report: (violationClass: ViolationClass, message: string) => void,
): { byKind: Record<FaultKind, number>; recoveryMs: Record<FaultKind, number[]>; skipped: number } {
  const byKind = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  const recoveryMs = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, [] as number[]])) as Record<FaultKind, number[]>;
  const faults = new Map<number, { kind: FaultKind; target: string; start: number; heal?: number }>();
  let stoppingAt = Number.POSITIVE_INFINITY;
  for (const event of events) {
    if (event.type === "phase" && event.name === "stopping") stoppingAt = Math.min(stoppingAt, event.at);
    if (event.type !== "fault") continue;
    if (event.phase === "start") {
      faults.set(event.fault, { kind: event.kind, target: event.target, start: event.at });
      byKind[event.kind]++;
    } else {
      const fault = faults.get(event.fault);
      if (fault) fault.heal = event.at;
    }
  }
  const locks = [...new Set(grants.map((grant) => grant.lock))];
  const byLock = groupBy(grants, (grant) => grant.lock);
  const bound = ttlMs + RECOVERY_SLACK_MS;
  let skipped = 0;
  for (const [id, fault] of faults) {
    if (fault.heal === undefined) continue;
    const healedAt = fault.heal;
    const windowEnd = healedAt + bound;
    const disturbed = [...faults].some(([other, each]) => other !== id && each.start < windowEnd && (each.heal ?? Number.POSITIVE_INFINITY) > healedAt);
    if (disturbed || windowEnd > stoppingAt) {
      skipped++;
      continue;
    }
    let slowest = 0;
    for (const lock of locks) {
      const heldAgain = (byLock.get(lock) ?? []).reduce((first, grant) => (grant.end > healedAt ? Math.min(first, Math.max(grant.start, healedAt)) : first), Number.POSITIVE_INFINITY);
      const waited = heldAgain - healedAt;
      slowest = Math.max(slowest, waited);
      if (waited > bound + tolerance) {
        report(
          "unavailable",
          `${lock} was ${Number.isFinite(waited) ? `held again only ${waited.toFixed(0)} ms` : "never held again"} after ${fault.kind} of ${fault.target} (fault ${id}) healed, beyond TTL + ${RECOVERY_SLACK_MS} ms = ${bound} ms`,
        );
      }
    }
    if (Number.isFinite(slowest)) recoveryMs[fault.kind].push(slowest);
  }
  return { byKind, recoveryMs, skipped };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) append(groups, key(item), item);
  return groups;
}

function append<T>(groups: Map<string, T[]>, key: string, item: T): void {
  const group = groups.get(key);
  if (group) group.push(item);
  else groups.set(key, [item]);
}

/** The smallest of the sorted `values` above `floor`, by binary search. */
function firstAbove(values: readonly number[], floor: number): number | undefined {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (values[middle]! <= floor) low = middle + 1;
    else high = middle;
  }
  return values[low];
}
