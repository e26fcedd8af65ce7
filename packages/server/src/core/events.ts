import type { ErrorCode, RequestOp } from "@leasehold/protocol";
import type { LockKind } from "./model.js";

/** Why a lease ended: it went silent, an admin (or a steal of its session) revoked it, its owner let it go. */
export type LeaseEndReason = "expired" | "revoked" | "released";
/** What became of an acquire (or campaign) when it was asked. */
export type AcquireOutcome = "granted" | "queued" | "busy" | "stolen";
/** How a queued wait ended. */
export type WaitOutcome = "granted" | "timeout" | "cancelled" | "lease_ended";
/** Why a holder lost what it held without releasing it. */
export type LossReason = "stolen" | "revoked" | "lease_expired" | "lease_revoked";
/** Why a connection was refused before it had a session. */
export type RefusalReason = "auth" | "origin" | "quota" | "rate";

/**
 * What the server tells its metrics (metrics/metrics.ts implements it), so that neither the rules nor
 * the connections know of prom-client. Every argument is drawn from a small fixed set: nothing here
 * takes a lock name, a key or a principal, which would give a metric one series per name. Called on
 * hot paths: an implementation only increments.
 */
export interface ServerEvents {
  leaseEnded(reason: LeaseEndReason): void;
  acquired(kind: LockKind, outcome: AcquireOutcome): void;
  waitEnded(kind: LockKind, outcome: WaitOutcome, waitedMs: number): void;
  lockLost(kind: LockKind, reason: LossReason): void;
  /** A hold lost rather than released left its lock-delay behind: the lock stays ungrantable for that long. */
  lockDelayStarted(kind: LockKind): void;
  watchOverflowed(): void;
  /** A request was handled: `code` is its immediate answer (OK when the handler accepted it, even if it answers later). */
  requestHandled(op: RequestOp, code: ErrorCode | "OK", seconds: number): void;
  /** A batch of changes was written to storage (or failed to be). */
  committed(seconds: number, ok: boolean): void;
  connectionRefused(reason: RefusalReason): void;
}

/** Events that go nowhere: a server without metrics (unit tests of the rules). */
export const NO_EVENTS: ServerEvents = {
  leaseEnded() {},
  acquired() {},
  waitEnded() {},
  lockLost() {},
  lockDelayStarted() {},
  watchOverflowed() {},
  requestHandled() {},
  committed() {},
  connectionRefused() {},
};
