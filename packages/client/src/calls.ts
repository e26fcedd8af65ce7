import { ErrorCode, Results, acceptCommonResult, type ParamsOf, type Request, type RequestOp, type ResultOf } from "@leasehold/protocol";
import { errorFromCode, type LeaseholdError } from "./errors.js";
import { PendingTable } from "./pending-table.js";
import type { InFlight, Settlement } from "./resume-settlement.js";

/**
 * A request in flight, and what its caller holds (`call()` returns it as `{ id, result }`): one object
 * per request, its promise made without a closure of its own (see `captureSettlers`).
 */
class Pending {
  /** When the request last went out on a socket (monotonic ms); undefined while unsent. */
  sentAt: number | undefined = undefined;
  /** Set when the caller gave up (abort): a late success must be undone rather than delivered. */
  orphaned: ((result: unknown) => void) | undefined = undefined;
  resolve!: (result: unknown) => void;
  reject!: (error: Error) => void;
  readonly result: Promise<unknown>;

  constructor(
    readonly id: number,
    readonly op: RequestOp,
    readonly message: Request,
  ) {
    opening = this;
    this.result = new Promise(captureSettlers);
    opening = undefined;
  }
}

/**
 * The one executor of every request's promise: the Promise constructor calls it at once, while
 * `opening` is the request being made, so no request allocates an executor closure.
 */
let opening: Pending | undefined;
function captureSettlers(resolve: (result: unknown) => void, reject: (error: Error) => void): void {
  opening!.resolve = resolve;
  opening!.reject = reject;
}

/** What the request table needs: a way to send, the clock, and who to tell about a reply's send time. */
export interface CallsHost {
  send(message: Request): boolean;
  now(): number;
  /** The server answered a request sent at `sentAt`: it had heard from us at or after that moment. */
  heardAt(sentAt: number): void;
}

/**
 * Requests in flight, by id. Ids grow for the life of the session, across reconnects, so that after
 * a resume the server's `lastRequest` tells exactly which requests never arrived.
 */
export class Calls {
  readonly #pending = new PendingTable<Pending>();
  #nextId = 1;
  /** Set once the client is closed: every later call fails at once with this error. */
  #closedWith: (() => Error) | undefined;

  constructor(readonly host: CallsHost) {}

  /** Sends a request (or holds it until the connection is back) and resolves with its typed result. */
  call<Op extends RequestOp>(op: Op, params: ParamsOf<Op>): { id: number; result: Promise<ResultOf<Op>> } {
    const id = this.#nextId++;
    if (this.#closedWith) return { id, result: Promise.reject(this.#closedWith()) };
    const pending = new Pending(id, op, requestMessage(op, id, params));
    this.#pending.add(pending);
    this.#transmit(pending);
    return pending as { id: number; result: Promise<ResultOf<Op>> };
  }

  /** Gives up on a request: it rejects now, and `onLateSuccess` runs if its success still arrives. */
  abandon(id: number, reason: Error, onLateSuccess: (result: unknown) => void): void {
    const pending = this.#pending.get(id);
    if (!pending || pending.orphaned) return;
    pending.orphaned = onLateSuccess;
    pending.reject(reason);
  }

  settleReply(id: number, result: unknown): void {
    const pending = this.#take(id);
    if (!pending) return;
    if (pending.sentAt !== undefined) this.host.heardAt(pending.sentAt);
    // The common results, when well formed, are taken as they are; the schema checks the rest and words what is wrong.
    let checked: unknown = result;
    if (!acceptCommonResult(pending.op, result)) {
      const parsed = Results[pending.op].safeParse(result);
      if (!parsed.success) {
        pending.reject(errorFromCode(ErrorCode.INTERNAL, `the server sent a malformed ${pending.op} result: ${parsed.error.message}`));
        return;
      }
      checked = parsed.data;
    }
    if (pending.orphaned) pending.orphaned(checked);
    else pending.resolve(checked);
  }

  settleError(id: number, error: LeaseholdError): void {
    const pending = this.#take(id);
    if (!pending) return;
    if (pending.sentAt !== undefined) this.host.heardAt(pending.sentAt);
    if (!pending.orphaned) pending.reject(error);
  }

  /**
   * After a resume: `decide` (see `settleInFlight`) says for each request in flight, in id order,
   * whether it goes out again, waits for its answer, or is settled or failed now.
   */
  resume(decide: (inFlight: readonly InFlight[]) => readonly Settlement[]): void {
    const all = this.#pending.values();
    const settlements = decide(all.map((pending) => ({ message: pending.message, sent: pending.sentAt !== undefined })));
    // Every re-send goes out before any settlement: settling may make a new request (the release of a
    // grant its caller gave up on), and a new id sent ahead of a re-sent lower one is refused.
    for (const [index, pending] of all.entries()) {
      if (settlements[index]?.kind !== "resend") continue;
      pending.sentAt = undefined;
      this.#transmit(pending);
    }
    for (const [index, pending] of all.entries()) {
      const settlement = settlements[index];
      if (settlement?.kind === "settle") this.settleReply(pending.id, settlement.result);
      else if (settlement?.kind === "fail") {
        this.#take(pending.id);
        if (!pending.orphaned) pending.reject(settlement.error);
      }
    }
  }

  /** Sends everything not yet sent (after a reconnect). */
  flush(): void {
    for (const pending of this.#pending.values()) if (pending.sentAt === undefined) this.#transmit(pending);
  }

  /** The client is closed for good: pending requests fail, and so will every later one. */
  close(make: () => Error): void {
    this.#closedWith = make;
    this.failAll(make);
  }

  /** Rejects every request (the session is gone or the client closed). */
  failAll(make: () => Error): void {
    const all = this.#pending.values();
    this.#pending.clear();
    for (const pending of all) if (!pending.orphaned) pending.reject(make());
  }

  #transmit(pending: Pending): void {
    const sentAt = this.host.now();
    let sent: boolean;
    try {
      sent = this.host.send(pending.message);
    } catch (error) {
      // A request that can never be sent (larger than the server's frame limit) fails now, having had no effect.
      this.#take(pending.id);
      if (!pending.orphaned) pending.reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (sent) pending.sentAt = sentAt;
  }

  #take(id: number): Pending | undefined {
    return this.#pending.take(id);
  }
}

/**
 * `{ op, id, ...params }` without the parameters left undefined. Built by hand because a spread
 * followed by more properties costs about 2 us per request in V8, more than encoding it.
 */
function requestMessage(op: RequestOp, id: number, params: object): Request {
  const message: Record<string, unknown> = { op, id };
  for (const key in params) {
    const value = (params as Record<string, unknown>)[key];
    if (value !== undefined) message[key] = value;
  }
  return message as unknown as Request;
}
