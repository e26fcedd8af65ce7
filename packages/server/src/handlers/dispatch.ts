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

/**
 * The table's handler of `op`, from a Map made once: `Object.hasOwn` and a keyed load of a
 * per-request op name on the table's 50-odd keys (V8's megamorphic keyed load) were 10 % of a lock
 * pair's handling in a loop (CPU profile; 16 sessions' pairs through `dispatch`): see BENCHMARKS.md,
 * "The server's path per lock pair (round 12)".
 */
export function handlerOf<Op extends RequestOp>(op: Op): Handler<Op> | undefined {
  return HANDLERS_BY_OP.get(op) as Handler<Op> | undefined;
}

const HANDLERS_BY_OP: ReadonlyMap<string, HandlerTable[RequestOp]> = new Map(Object.entries(HANDLERS as HandlerTable));
