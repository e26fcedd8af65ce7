import { ErrorCode, type Request, type RequestOf, type RequestOp } from "@leasehold/protocol";
import { ServerError } from "../errors.js";
import { adminHandlers } from "./admin.js";
import { counterHandlers } from "./counters.js";
import { electionHandlers } from "./elections.js";
import type { Handled, Handler, HandlerTable, RequestContext } from "./handler.js";
import { kvHandlers } from "./kv.js";
import { leaseHandlers } from "./leases.js";
import { lockHandlers } from "./locks.js";
import { sessionHandlers } from "./sessions.js";
import { watchHandlers } from "./watch.js";

/** Every op of the protocol, its rights and its handler: one entry each, checked by the compiler. */
export const HANDLERS = {
  ...sessionHandlers,
  ...leaseHandlers,
  ...lockHandlers,
  ...electionHandlers,
  ...kvHandlers,
  ...watchHandlers,
  ...counterHandlers,
  ...adminHandlers,
} satisfies HandlerTable;

/**
 * Runs one request: its rate and rights first (auth/guard.ts), then its handler. Throws ServerError
 * for refusals; the caller turns them into `error` replies. Replies of later answers are sent by
 * whoever settles them.
 */
export function dispatch<Op extends RequestOp>(context: RequestContext, request: RequestOf<Op>): Handled<Op> {
  const handler = handlerOf(request.op as Op);
  // The codec refuses unknown ops (UNKNOWN_OP, with the id) before a request gets here; this is the
  // same answer for an op the protocol knows and this table would not (a mixed build).
  if (handler === undefined) throw new ServerError(ErrorCode.UNKNOWN_OP, `unknown op ${(request as Request).op}`);
  context.guard.admit(context.session, request, handler.needs);
  return handler.run(context, request);
}

function handlerOf<Op extends RequestOp>(op: Op): Handler<Op> | undefined {
  const table: HandlerTable = HANDLERS;
  return Object.hasOwn(table, op) ? table[op] : undefined;
}
