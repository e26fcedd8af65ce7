import { ErrorCode, Results, type ParamsOf, type Request, type RequestOp, type ResultOf } from "@leasehold/protocol";
import { errorFromCode, type LeaseholdError } from "./errors.js";

interface Pending {
  readonly id: number;
  readonly op: RequestOp;
  readonly message: Request;
  /** When the request last went out on a socket (monotonic ms); undefined while unsent. */
  sentAt: number | undefined;
  resolve(result: unknown): void;
  reject(error: Error): void;
  /** Set when the caller gave up (abort): a late success must be undone rather than delivered. */
  orphaned?: (result: unknown) => void;
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
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  /** Set once the client is closed: every later call fails at once with this error. */
  #closedWith: (() => Error) | undefined;

  constructor(readonly host: CallsHost) {}

  /** Sends a request (or holds it until the connection is back) and resolves with its typed result. */
  call<Op extends RequestOp>(op: Op, params: ParamsOf<Op>): { id: number; result: Promise<ResultOf<Op>> } {
    const id = this.#nextId++;
    if (this.#closedWith) return { id, result: Promise.reject(this.#closedWith()) };
    const message = requestMessage(op, id, params);
    let resolve!: (value: unknown) => void;
    let reject!: (error: Error) => void;
    const result = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: Pending = { id, op, message, sentAt: undefined, resolve, reject };
    this.#pending.set(id, pending);
    this.#transmit(pending);
    return { id, result: result as Promise<ResultOf<Op>> };
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
    const parsed = Results[pending.op].safeParse(result);
    if (!parsed.success) {
      pending.reject(errorFromCode(ErrorCode.INTERNAL, `the server sent a malformed ${pending.op} result: ${parsed.error.message}`));
      return;
    }
    if (pending.orphaned) pending.orphaned(parsed.data);
    else pending.resolve(parsed.data);
  }

  settleError(id: number, error: LeaseholdError): void {
    const pending = this.#take(id);
    if (!pending) return;
    if (pending.sentAt !== undefined) this.host.heardAt(pending.sentAt);
    if (!pending.orphaned) pending.reject(error);
  }

  /**
   * After a resume: requests above `lastRequest` never reached the server and go out again; those at
   * or below it were received but their answers were lost with the connection. `settleLost` decides
   * each of those (from the resync state): a result, an error (an unknown outcome), or undefined for a
   * wait still queued on the server.
   *
   * `refused`: the server closed the previous connection over a frame it could not read (close
   * 4000). It reads frames in order and stops at that one, so the first request sent and not received
   * was it: that request fails with the server's error rather than going out again, which would only
   * be refused again, after every resume, for ever.
   */
  resume(lastRequest: number, settleLost: (request: Request) => { result: unknown } | { error: Error } | undefined, refused?: Error): void {
    const all = [...this.#pending.values()];
    const culprit = refused && all.find((pending) => pending.id > lastRequest && pending.sentAt !== undefined);
    if (culprit) {
      this.#take(culprit.id);
      if (!culprit.orphaned) culprit.reject(refused);
    }
    // Every re-send goes out before any settlement: settling may make a new request (the release of a
    // grant its caller gave up on), and a new id sent ahead of a re-sent lower one is refused.
    for (const pending of all) {
      if (pending.id <= lastRequest || pending === culprit) continue;
      pending.sentAt = undefined;
      this.#transmit(pending);
    }
    for (const pending of all) {
      if (pending.id > lastRequest) continue;
      const outcome = settleLost(pending.message);
      if (outcome === undefined) continue; // still queued on the server: its answer will come
      if ("result" in outcome) this.settleReply(pending.id, outcome.result);
      else {
        this.#take(pending.id);
        if (!pending.orphaned) pending.reject(outcome.error);
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
    for (const pending of [...this.#pending.values()]) {
      this.#pending.delete(pending.id);
      if (!pending.orphaned) pending.reject(make());
    }
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
    const pending = this.#pending.get(id);
    if (pending) this.#pending.delete(id);
    return pending;
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
