import { CloseCode, ErrorCode, type Clock, type Limits, type Timer } from "@leasehold/protocol";
import { ServerError } from "../errors.js";
import type { Session } from "../core/model.js";
import { TokenBucket } from "./quota.js";
import { principalId } from "./session-owner.js";
import type { Admission, Authenticator, Successor } from "./authenticator.js";
import { allows, describeGrants, Right, type Principal, type Requirement } from "./permissions.js";

/** What the guard needs of a socket: to stop and restart reading from a client that floods. */
export interface ReadableSocket {
  readonly readyState: number;
  pause(): void;
  resume(): void;
}

/**
 * What one frame of an attached session may do: go on, be answered RATE_LIMITED (the socket is paused
 * meanwhile), or end the connection (close 4008) because the session went on far past its limit.
 */
export type FrameVerdict = "allowed" | "refused" | "cut";

/** Per session: who it is, its frame budget, and the socket it currently reads from. */
interface Gate {
  principal: Principal;
  readonly bucket: TokenBucket;
  /**
   * Frames past the budget that may still be answered (RATE_LIMITED) before the connection is cut:
   * as many again as the budget (a burst, refilled at the same rate). Without it, a peer that ignores
   * RATE_LIMITED gets one answer per frame it manages to send: 152,000 a second were measured.
   */
  readonly overdraft: TokenBucket;
  socket: ReadableSocket | undefined;
  throttle: Timer | null;
}

const OPEN = 1;
const CLOSED = 3;
/** Shortest pause of a flooding socket, so that a flood costs a timer every few ms at most. */
const MIN_THROTTLE_MS = 5;
/**
 * Tokens a frame takes that the server refuses before any request runs (a stale request id, an
 * unknown op, an invalid message, a second hello): a well-behaved client never sends one, and a
 * session that sends nothing else is held to a tenth of its rate (5,000 a second by default) instead
 * of the whole of it. A stale-id flood at the default rate was answered 65,000 times a second, 73 %
 * of a core for the server beside the attacker's own (BENCHMARKS.md, row 7 and "Under attack (round 9)").
 */
export const REFUSED_FRAME_COST = 10;
/**
 * How long the socket of a session whose budget a frame refused anyway spent stays unread. Frames
 * already read from the socket are answered all the same (RATE_LIMITED, from the overdraft): with the
 * 5 ms pause of any other session past its rate, a stale-id flood got 13,000-31,000 of those answers a
 * second besides its refusals, and drained the overdraft; with 200 ms, 2,000-3,000.
 */
export const REFUSED_FLOOD_PAUSE_MS = 200;

/**
 * The one place where a session's frames and requests are checked. Every frame counts against the
 * session's rate (`frame`), whatever it holds, refusals included: past it, the frame is answered
 * RATE_LIMITED and the socket stops being read until the bucket refills, so that a flood is held back
 * by TCP rather than by the server's CPU; a session that goes on far past it is cut off (close 4008).
 * Every request is then checked against the principal's permissions for the op and every name it
 * touches (`admit`: PERMISSION_DENIED). A refused request has no effect.
 */
export class Guard {
  readonly #gates = new WeakMap<Session, Gate>();
  /** The text of every RATE_LIMITED answer, made once: a flood is answered with many of them. */
  readonly rateLimitedMessage: string;

  constructor(
    readonly authenticator: Authenticator,
    readonly limits: Limits,
    readonly clock: Clock,
  ) {
    this.rateLimitedMessage = `more than ${limits.maxRequestsPerSecond} frames per second (burst ${limits.requestBurst}); slow down and retry`;
  }

  /** Checks the credential of a `hello`: synchronous unless it is a JWT. */
  authenticate(credential: string | undefined): Admission | Promise<Admission> {
    return this.authenticator.authenticate(credential);
  }

  /**
   * A session may be resumed only by the principal that opened it: the session secret alone does not
   * carry someone else's rights over. Static token names are unique and JWT subjects are named
   * `jwt:<sub>`; the principal is stored with the session, so this holds after a restart too; only a
   * session stored before principals were kept (schema version 1) has none.
   */
  mayResume(session: Session, principal: Principal): boolean {
    return session.principal === undefined || session.principal === principalId(principal);
  }

  /** Binds a session (new or resumed) to its principal and to the socket it now reads from. */
  attach(session: Session, principal: Principal, socket: ReadableSocket): void {
    const gate = this.#gates.get(session);
    if (gate) {
      gate.principal = principal;
      gate.socket = socket;
      gate.throttle?.cancel();
      gate.throttle = null;
      return;
    }
    const { maxRequestsPerSecond, requestBurst } = this.limits;
    const now = this.clock.now();
    this.#gates.set(session, {
      principal,
      bucket: new TokenBucket(maxRequestsPerSecond, requestBurst, now),
      overdraft: new TokenBucket(maxRequestsPerSecond, requestBurst, now),
      socket,
      throttle: null,
    });
  }

  /**
   * After a reload of the credentials: each session's principal becomes what its credential grants
   * now, so that changed rights apply from its next request, and a connected session whose token is
   * no longer accepted is told why (UNAUTHENTICATED) and closed with 4003, which a client does not
   * retry with the same credential. Its leases run out as usual: ending them now would take its locks
   * from a holder that has not yet learnt it lost them. Returns the sessions closed.
   */
  reauthorize(sessions: Iterable<Session>, successor: Successor): { session: string; principal: string }[] {
    const closed: { session: string; principal: string }[] = [];
    for (const session of sessions) {
      const gate = this.#gates.get(session);
      if (!gate) continue;
      const next = successor(gate.principal);
      if (next) {
        gate.principal = next;
        continue;
      }
      // A detached session keeps its principal: only a credential of the same name can resume it.
      if (!session.outlet) continue;
      closed.push({ session: session.id, principal: gate.principal.name });
      session.outlet.send({
        type: "error",
        code: ErrorCode.UNAUTHENTICATED,
        message: `the token of ${gate.principal.name} was removed from the server's token file and is no longer accepted; connect again with a valid credential`,
      });
      session.outlet.close(CloseCode.UNAUTHENTICATED, "credential revoked");
    }
    return closed;
  }

  /**
   * Counts one frame the session sent (any frame: a request, a pong, a refused one). `op` is the
   * frame's op when it decoded. Giving things up (`bye`, `cancel`) goes on past the budget, so that a
   * throttled client can still leave: a `cancel` spends the overdraft like a refusal would, a `bye`
   * ends the session anyway. `now`: the instant the frame is counted at; a connection passes the one
   * it read for the frame's liveness (Coordinator.heard), so that a frame reads the clock once.
   */
  frame(session: Session, op: string | undefined, now: number = this.clock.now()): FrameVerdict {
    const gate = this.#gates.get(session);
    if (!gate) return "cut";
    if (gate.bucket.take(now)) return "allowed";
    if (op === "bye") return "allowed"; // it ends the session: nothing left to hold back
    this.#throttle(gate, MIN_THROTTLE_MS);
    if (gate.overdraft.take(now)) return op === "cancel" ? "allowed" : "refused";
    // Cut off: its socket is not read again (the throttle would resume it).
    gate.throttle?.cancel();
    gate.throttle = null;
    gate.socket = undefined;
    return "cut";
  }

  /**
   * A frame `frame` allowed is refused all the same (a stale id, an invalid message, a second hello):
   * it takes REFUSED_FRAME_COST tokens in all, and if that spends the budget the socket is not read
   * for REFUSED_FLOOD_PAUSE_MS. Charged here, on the refusal's path, so that an accepted frame pays
   * nothing for it.
   */
  refusedAnyway(session: Session): void {
    const gate = this.#gates.get(session);
    if (!gate) return;
    const now = this.clock.now();
    gate.bucket.charge(now, REFUSED_FRAME_COST - 1);
    if (gate.bucket.tokens < 1) this.#throttle(gate, REFUSED_FLOOD_PAUSE_MS);
  }

  /** True if the session's principal has `right` over `name`: for answers that list only what it may see. */
  mayUse(session: Session, right: Right, name: string): boolean {
    const principal = this.#gates.get(session)?.principal;
    return principal !== undefined && allows(principal, right, name);
  }

  /**
   * Checks a request's rights (its handler's `needs`, handlers/): throws PERMISSION_DENIED naming the
   * first right missing, or UNAUTHENTICATED for a session never admitted. The list of needs is built
   * only for a restricted principal: with authentication off every request skips making it.
   */
  admit<R extends { op: string }>(session: Session, request: R, needs: ((request: R) => readonly Requirement[]) | undefined): void {
    const gate = this.#gates.get(session);
    if (!gate) throw new ServerError(ErrorCode.UNAUTHENTICATED, "this session was not admitted by a handshake");
    const principal = gate.principal;
    if (principal.unrestricted || needs === undefined) return;
    for (const need of needs(request)) {
      if (need.orAdmin && allows(principal, Right.admin, need.name)) continue;
      if (!allows(principal, need.right, need.name)) throw refusal(principal, need, request.op);
    }
  }

  /**
   * Stops reading the flooding socket until the bucket has a token again, and for `minMs` at least. Frames it had already
   * read (a single read holds thousands of small ones) are still answered, a few per turn of the
   * event loop (see TurnBudget), so that other sessions' requests are read in between.
   */
  #throttle(gate: Gate, minMs: number): void {
    const socket = gate.socket;
    if (gate.throttle || !socket || socket.readyState !== OPEN) return;
    socket.pause();
    gate.throttle = this.clock.setTimer(Math.max(minMs, gate.bucket.msUntilToken(this.clock.now())), () => {
      gate.throttle = null;
      // Also while closing: the peer's answer to the close must be read for the socket to end.
      if (gate.socket === socket && socket.readyState !== CLOSED) socket.resume();
    });
  }
}

function refusal(principal: Principal, need: Requirement, op: string): ServerError {
  const target = need.prefix ? `the prefix "${need.name}"${need.name === "" ? " (every name)" : ""}` : `"${need.name}"`;
  return new ServerError(
    ErrorCode.PERMISSION_DENIED,
    `${principal.name} may not ${need.doing ?? op} ${target}: it needs the right "${need.right}" over it (it has: ${describeGrants(principal)})`,
  );
}
