import { CloseCode, ErrorCode, type Clock, type Limits, type Request, type Timer } from "@leasehold/protocol";
import { ServerError } from "../errors.js";
import type { Session } from "../core/model.js";
import { TokenBucket } from "./quota.js";
import { principalId } from "../core/accounts.js";
import type { Admission, Authenticator, Successor } from "./authenticator.js";
import { allows, describeGrants, Right, type Principal } from "./permissions.js";

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
   * ends the session anyway.
   */
  frame(session: Session, op: string | undefined): FrameVerdict {
    const gate = this.#gates.get(session);
    if (!gate) return "cut";
    const now = this.clock.now();
    if (gate.bucket.take(now)) return "allowed";
    if (op === "bye") return "allowed"; // it ends the session: nothing left to hold back
    this.#throttle(gate);
    if (gate.overdraft.take(now)) return op === "cancel" ? "allowed" : "refused";
    // Cut off: its socket is not read again (the throttle would resume it).
    gate.throttle?.cancel();
    gate.throttle = null;
    gate.socket = undefined;
    return "cut";
  }

  /** True if the session's principal has `right` over `name`: for answers that list only what it may see. */
  mayUse(session: Session, right: Right, name: string): boolean {
    const principal = this.#gates.get(session)?.principal;
    return principal !== undefined && allows(principal, right, name);
  }

  /** Throws PERMISSION_DENIED (or UNAUTHENTICATED for a session never admitted). */
  admit(session: Session, request: Request): void {
    const gate = this.#gates.get(session);
    if (!gate) throw new ServerError(ErrorCode.UNAUTHENTICATED, "this session was not admitted by a handshake");
    if (!gate.principal.unrestricted) authorize(gate.principal, request);
  }

  /**
   * Whether the session's principal may do `request` now, without taking a rate token: for what a
   * session keeps open, checked again as it runs, since a reload may have taken the right away.
   */
  permits(session: Session, request: Request): boolean {
    const principal = this.#gates.get(session)?.principal;
    if (!principal) return false;
    if (principal.unrestricted) return true;
    try {
      authorize(principal, request);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Stops reading the flooding socket until the bucket has a token again. Frames it had already
   * read (a single read holds thousands of small ones) are still answered, a few per turn of the
   * event loop (see TurnBudget), so that other sessions' requests are read in between.
   */
  #throttle(gate: Gate): void {
    const socket = gate.socket;
    if (gate.throttle || !socket || socket.readyState !== OPEN) return;
    socket.pause();
    gate.throttle = this.clock.setTimer(Math.max(MIN_THROTTLE_MS, gate.bucket.msUntilToken(this.clock.now())), () => {
      gate.throttle = null;
      // Also while closing: the peer's answer to the close must be read for the socket to end.
      if (gate.socket === socket && socket.readyState !== CLOSED) socket.resume();
    });
  }
}

/**
 * What each op needs. Ops that only touch the session's own things (its leases, its waits, its
 * watches, releasing or resigning what it holds) need no right: they cannot reach anyone else's.
 */
function authorize(principal: Principal, request: Request): void {
  switch (request.op) {
    case "bye":
    case "cancel":
    case "lease.grant":
    case "lease.renew":
    case "lease.revoke":
    case "lease.ttl":
    case "lock.release":
    case "election.resign":
    // Answers only with the names the principal may lock (see `mayUse`): nothing to refuse.
    case "lock.query":
    case "unwatch":
    case "election.unobserve":
    case "admin.unsubscribe":
      return;
    case "lock.acquire":
      // A steal cannot tell the holder before the lock changes hands: its own right, which admins have.
      if (request.steal && !allows(principal, Right.admin, request.name)) need(principal, Right.steal, request.name, "steal");
      return need(principal, Right.lock, request.name, request.op);
    case "kv.get":
      return need(principal, Right.read, request.key, request.op);
    case "kv.list":
      return need(principal, Right.read, request.prefix, request.op, "prefix");
    case "kv.put":
    case "kv.delete":
      need(principal, Right.write, request.key, request.op);
      // A fence reveals whether a lock is held and with which token: it needs the lock's right too.
      if (request.fence) need(principal, Right.lock, request.fence.lock, `${request.op} fenced by`);
      return;
    case "watch":
      return need(principal, Right.watch, request.prefix, request.op, "prefix");
    case "counter.add":
    case "counter.get":
    case "counter.set":
    case "counter.cas":
      return need(principal, Right.counter, request.name, request.op);
    case "election.campaign":
    case "election.leader":
    case "election.observe":
      return need(principal, Right.election, request.name, request.op);
    case "admin.release":
      return need(principal, Right.admin, request.name, request.op);
    case "admin.state":
    case "admin.subscribe":
    case "admin.revoke":
      // The whole server's state, and any session's lease: admin over every name.
      return need(principal, Right.admin, "", request.op, "prefix");
    default:
      return exhaustive(request);
  }
}

function need(principal: Principal, right: Right, name: string, op: string, what: "name" | "prefix" = "name"): void {
  if (allows(principal, right, name)) return;
  const target = what === "prefix" ? `the prefix "${name}"${name === "" ? " (every name)" : ""}` : `"${name}"`;
  throw new ServerError(
    ErrorCode.PERMISSION_DENIED,
    `${principal.name} may not ${op} ${target}: it needs the right "${right}" over it (it has: ${describeGrants(principal)})`,
  );
}

function exhaustive(request: never): never {
  throw new ServerError(ErrorCode.UNKNOWN_OP, `unknown op ${(request as { op: string }).op}`);
}
