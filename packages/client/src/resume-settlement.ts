import { ErrorCode, type Request, type Resync } from "@leasehold/protocol";
import { ConnectionError, type LeaseholdError } from "./errors.js";

/** A request in flight when the connection dropped: its message, and whether it went out on a socket. */
export interface InFlight {
  readonly message: Request;
  readonly sent: boolean;
}

/** What becomes of one request in flight once the session is resumed. */
export type Settlement =
  /** The server never received it: send it again. */
  | { readonly kind: "resend" }
  /** Received, and still queued on the server (a lock or election wait): its answer will come. */
  | { readonly kind: "await" }
  /** Received, its answer lost with the connection, and the resync tells what it was. */
  | { readonly kind: "settle"; readonly result: unknown }
  /** Received with an outcome the resync cannot tell, or refused by the server: fail it. */
  | { readonly kind: "fail"; readonly error: LeaseholdError };

/**
 * Decides, for each request in flight (in id order), what a resume does with it, from the server's
 * resync. Requests above `lastRequest` never arrived and go out again, except the one the server
 * closed the last connection over (`refused`, after close 4000): it reads frames in order and stops
 * at that one, so that request is the first sent above `lastRequest`; sent again, it would only be
 * refused again, after every resume, for ever. Requests at or below `lastRequest` were received:
 * where the resync shows their outcome (a hold won, a lock no longer held, a lease gone) they are
 * settled with it, otherwise their outcome is unknown.
 */
export function settleInFlight(inFlight: readonly InFlight[], resync: Resync, refused?: LeaseholdError): Settlement[] {
  const facts = resyncFacts(resync);
  let culpritFound = refused === undefined;
  return inFlight.map(({ message, sent }) => {
    if (message.id > resync.lastRequest) {
      if (!culpritFound && sent) {
        culpritFound = true;
        return { kind: "fail", error: refused! };
      }
      return RESEND;
    }
    return settleReceived(message, facts);
  });
}

const RESEND: Settlement = { kind: "resend" };
const AWAIT: Settlement = { kind: "await" };

interface ResyncFacts {
  readonly leases: ReadonlySet<number>;
  readonly heldTokens: ReadonlySet<number>;
  readonly holdsByRequest: ReadonlyMap<number, { readonly token: number }>;
  readonly waiting: ReadonlySet<number>;
}

function resyncFacts(resync: Resync): ResyncFacts {
  return {
    leases: new Set(resync.leases.map((lease) => lease.lease)),
    heldTokens: new Set(resync.holds.map((hold) => hold.token)),
    holdsByRequest: new Map(resync.holds.map((hold) => [hold.request, hold])),
    waiting: new Set(resync.waits.map((wait) => wait.request)),
  };
}

/** A request the server received whose answer was lost with the connection. */
function settleReceived(request: Request, facts: ResyncFacts): Settlement {
  switch (request.op) {
    case "lock.acquire":
    case "election.campaign": {
      if (facts.waiting.has(request.id)) return AWAIT;
      const hold = facts.holdsByRequest.get(request.id);
      if (request.op === "lock.acquire") return { kind: "settle", result: hold ? { acquired: true, token: hold.token } : { acquired: false } };
      return { kind: "settle", result: hold ? { elected: true, token: hold.token } : { elected: false } };
    }
    case "lock.release":
      return { kind: "settle", result: { released: !facts.heldTokens.has(request.token) } };
    case "election.resign":
      return { kind: "settle", result: { resigned: !facts.heldTokens.has(request.token) } };
    case "lease.revoke":
      return facts.leases.has(request.lease)
        ? { kind: "fail", error: new ConnectionError(ErrorCode.OUTCOME_UNKNOWN, `lease ${request.lease} is still held after the reconnect; revoke it again`) }
        : { kind: "settle", result: {} };
    default:
      return {
        kind: "fail",
        error: new ConnectionError(ErrorCode.OUTCOME_UNKNOWN, `the connection dropped before the reply to ${request.op}; it may or may not have taken effect`),
      };
  }
}
