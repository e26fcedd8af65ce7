import type { RequestOf, RequestOp, ResultOf } from "@leasehold/protocol";
import type { Guard } from "../auth/guard.js";
import type { Requirement } from "../auth/permissions.js";
import type { Coordinator } from "../core/coordinator.js";
import type { Session } from "../core/model.js";

/**
 * One operation of the protocol: the rights its request needs, and what runs it. The table of every
 * op (handlers/dispatch.ts) has one entry per `RequestOp`, so that a new op in the protocol package
 * does not compile until it has a handler and its rights.
 */
export interface Handler<Op extends RequestOp> {
  /**
   * The rights the request needs over the names it touches, checked by the guard before `run`.
   * Absent for ops that only touch the session's own things (its leases, its waits, its
   * subscriptions, releasing what it holds): they cannot reach anyone else's.
   */
  readonly needs?: (request: RequestOf<Op>) => readonly Requirement[];
  /** Runs the request. Throws ServerError for refusals; the connection turns them into `error` replies. */
  readonly run: (context: RequestContext, request: RequestOf<Op>) => Handled<Op>;
}

/** Every op's handler. */
export type HandlerTable = { [Op in RequestOp]: Handler<Op> };

/**
 * Result of a request: answered now, or later by whoever settles it (a queued wait answers when it
 * is granted or runs out; a watch, an observer or the admin feed answer before their first push).
 * Either way the reply is typed by the op's result (see Session.reply).
 */
export type Handled<Op extends RequestOp> = { now: ResultOf<Op> } | "later";

/** What a request handler may ask of the connection it came from. */
export interface RequestContext {
  coordinator: Coordinator;
  session: Session;
  /** Rate and permissions of the session's principal. */
  guard: Guard;
  /** The session's heartbeat interval may have become shorter. */
  heartbeatChanged(): void;
  /** The client said goodbye: close after the reply. */
  goodbye(): void;
}
