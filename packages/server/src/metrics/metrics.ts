import type { ErrorCode, RequestOp } from "@leasehold/protocol";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Coordinator } from "../core/coordinator.js";
import type { AcquireOutcome, LeaseEndReason, LossReason, RefusalReason, ServerEvents, WaitOutcome } from "../core/events.js";
import type { LockKind } from "../core/model.js";
import { HotCounter, HotHistogram, type CounterCell, type HistogramCell } from "./hot-metrics.js";

/** What the metrics read at scrape time, beyond the rules' state. */
export interface MetricsSources {
  /** The rules' state (a function: the server makes its metrics before its coordinator, which reports to them). */
  coordinator(): Coordinator;
  /** Open TCP (or TLS) connections, upgraded or not. */
  connections(): number;
  /** Bytes of the database on disk, or undefined for in-memory storage. */
  databaseBytes(): number | undefined;
}

/** The Prometheus text format's content type, as prom-client writes it. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * Every leasehold metric, in a registry of its own (one per server, so that two servers in one
 * process do not share figures), plus Node's default process metrics. The rules report events
 * through `ServerEvents`; states (sessions, locks held, waiters, watchers, the revision) are read
 * from the coordinator at scrape time, so that keeping them costs nothing between scrapes. Label
 * values come from small fixed sets (kinds, reasons, ops, codes): never a name, a key or a principal.
 *
 * Cost on the hot path: counts and durations go to plain numbers (hot-metrics.ts), which prom-client
 * reads at scrape time; see README, Metrics, for the figure measured.
 */
export class Metrics implements ServerEvents {
  readonly registry = new Registry();
  readonly #requests: HotCounter;
  readonly #requestSeconds: HotHistogram;
  /** Per op, the series of its requests answered OK: the count and the duration. */
  readonly #answered = new Map<RequestOp, { count: CounterCell; seconds: HistogramCell }>();
  readonly #leaseEnds: HotCounter;
  readonly #acquires: HotCounter;
  readonly #waitSeconds: HotHistogram;
  readonly #losses: HotCounter;
  readonly #delaysStarted: HotCounter;
  readonly #watchOverflows: HotCounter;
  readonly #commitSeconds: HotHistogram;
  readonly #refusals: HotCounter;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "leasehold_sessions",
      help: "Sessions the server holds, by state: connected, or detached (waiting for a resume).",
      labelNames: ["state"],
      registers,
      collect() {
        let connected = 0;
        const { sessions } = sources.coordinator();
        for (const session of sessions.values()) if (session.outlet !== null) connected += 1;
        this.set({ state: "connected" }, connected);
        this.set({ state: "detached" }, sessions.size - connected);
      },
    });
    new Gauge({
      name: "leasehold_leases",
      help: "Live leases.",
      registers,
      collect() {
        this.set(sources.coordinator().leases.size);
      },
    });
    new Gauge({
      name: "leasehold_locks_held",
      help: "Holds of locks, semaphore slots and election seats, by kind.",
      labelNames: ["kind"],
      registers,
      collect() {
        const { held } = lockTallies(sources.coordinator());
        for (const kind of LOCK_KINDS) this.set({ kind }, held[kind]);
      },
    });
    new Gauge({
      name: "leasehold_lock_waiters",
      help: "Queued waiters of locks, semaphores and elections, by kind.",
      labelNames: ["kind"],
      registers,
      collect() {
        const { waiting } = lockTallies(sources.coordinator());
        for (const kind of LOCK_KINDS) this.set({ kind }, waiting[kind]);
      },
    });
    new Gauge({
      name: "leasehold_locks_in_delay",
      help: "Locks and semaphores with a lock-delay running (a hold lost rather than released, not grantable again yet), by kind.",
      labelNames: ["kind"],
      registers,
      collect() {
        const { delayed } = lockTallies(sources.coordinator());
        for (const kind of DELAY_KINDS) this.set({ kind }, delayed[kind]);
      },
    });
    new Gauge({
      name: "leasehold_watchers",
      help: "Open watches of keys.",
      registers,
      collect() {
        this.set(sources.coordinator().shared.watches.size);
      },
    });
    new Gauge({
      name: "leasehold_revision",
      help: "The current revision: the counter behind every key change and fencing token.",
      registers,
      collect() {
        this.set(sources.coordinator().revision);
      },
    });
    new Gauge({
      name: "leasehold_storage_database_bytes",
      help: "Size of the SQLite database on disk (absent without a data directory).",
      registers,
      collect() {
        const bytes = sources.databaseBytes();
        if (bytes !== undefined) this.set(bytes);
      },
    });
    new Gauge({
      name: "leasehold_connections",
      help: "Open TCP (or TLS) connections, whether or not they upgraded to a WebSocket.",
      registers,
      collect() {
        this.set(sources.connections());
      },
    });
    this.#requests = new HotCounter({ name: "leasehold_requests_total", help: "Requests handled, by op and by immediate answer (OK or an error code).", labelNames: ["op", "code"], registers });
    this.#requestSeconds = new HotHistogram({
      name: "leasehold_request_duration_seconds",
      help: "Time the server spent handling a request, from its frame read (its decoding included) to its answer (or its queueing); commit and queue time excluded.",
      labelNames: ["op"],
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers,
    });
    this.#leaseEnds = new HotCounter({ name: "leasehold_lease_ends_total", help: "Leases ended, by reason: expired (silent), revoked (admin), released (by their owner).", labelNames: ["reason"], registers });
    this.#acquires = new HotCounter({ name: "leasehold_lock_acquires_total", help: "Acquires and campaigns, by kind and outcome: granted at once, queued, busy (try refused), stolen.", labelNames: ["kind", "outcome"], registers });
    this.#waitSeconds = new HotHistogram({
      name: "leasehold_lock_wait_seconds",
      help: "How long queued waiters waited, by kind and by how the wait ended: granted, timeout, cancelled, lease_ended.",
      labelNames: ["kind", "outcome"],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers,
    });
    this.#losses = new HotCounter({ name: "leasehold_lock_losses_total", help: "Holds lost without a release, by kind and reason: stolen, revoked (admin), lease_expired, lease_revoked.", labelNames: ["kind", "reason"], registers });
    this.#delaysStarted = new HotCounter({ name: "leasehold_lock_delays_started_total", help: "Lock-delays started: holds with a lock-delay lost rather than released (lease expired or revoked, admin release), by kind.", labelNames: ["kind"], registers });
    this.#watchOverflows = new HotCounter({ name: "leasehold_watch_overflows_total", help: "Watches closed with WATCH_OVERFLOW because they fell behind the history kept.", registers });
    this.#commitSeconds = new HotHistogram({
      name: "leasehold_storage_commit_duration_seconds",
      help: "Time to write one batch of changes to storage (one transaction, fsync included), by outcome: ok or failed.",
      labelNames: ["outcome"],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    this.#refusals = new HotCounter({ name: "leasehold_connection_refusals_total", help: "Connections refused before a session, by reason: auth, origin, quota (per address), rate (new connections per second).", labelNames: ["reason"], registers });
  }

  /** The text a scraper reads at /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  leaseEnded(reason: LeaseEndReason): void {
    this.#leaseEnds.add(reason);
  }

  acquired(kind: LockKind, outcome: AcquireOutcome): void {
    this.#acquires.add(kind, outcome);
  }

  waitEnded(kind: LockKind, outcome: WaitOutcome, waitedMs: number): void {
    this.#waitSeconds.record(waitedMs / 1_000, kind, outcome);
  }

  lockLost(kind: LockKind, reason: LossReason): void {
    this.#losses.add(kind, reason);
  }

  lockDelayStarted(kind: LockKind): void {
    this.#delaysStarted.add(kind);
  }

  watchOverflowed(): void {
    this.#watchOverflows.add();
  }

  requestHandled(op: RequestOp, code: ErrorCode | "OK", seconds: number): void {
    if (code !== "OK") {
      this.#requests.add(op, code);
      this.#requestSeconds.record(seconds, op);
      return;
    }
    // Every request answered lands here: its op's two series found with one lookup rather than four
    // (the counter's and the histogram's maps, by op and by code).
    let series = this.#answered.get(op);
    if (series === undefined) this.#answered.set(op, (series = { count: this.#requests.cell(op, "OK"), seconds: this.#requestSeconds.cell(op) }));
    series.count.value += 1;
    this.#requestSeconds.recordIn(series.seconds, seconds);
  }

  committed(seconds: number, ok: boolean): void {
    this.#commitSeconds.record(seconds, ok ? "ok" : "failed");
  }

  connectionRefused(reason: RefusalReason): void {
    this.#refusals.add(reason);
  }
}

const LOCK_KINDS: readonly LockKind[] = ["lock", "semaphore", "election"];
/** Elections have no lock-delay. */
const DELAY_KINDS: readonly LockKind[] = ["lock", "semaphore"];

type Tally = Record<LockKind, number>;

/** Holds, waiters and names in lock-delay by kind, in one pass over both tables. */
function lockTallies(coordinator: Coordinator): { held: Tally; waiting: Tally; delayed: Tally } {
  const held: Tally = { lock: 0, semaphore: 0, election: 0 };
  const waiting: Tally = { lock: 0, semaphore: 0, election: 0 };
  const delayed: Tally = { lock: 0, semaphore: 0, election: 0 };
  for (const table of [coordinator.locks, coordinator.elections]) {
    for (const entry of table.entries()) {
      held[entry.kind] += entry.holders.size;
      waiting[entry.kind] += entry.queue.size;
      if (table.delaysOf(entry).length > 0) delayed[entry.kind] += 1;
    }
  }
  return { held, waiting, delayed };
}
