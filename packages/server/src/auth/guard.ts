import { ErrorCode, type Clock, type Limits, type Request, type Timer } from "@leasehold/protocol";
import { ServerError } from "../errors.js";
import type { Session } from "../model.js";
import { TokenBucket } from "../quota.js";
import type { Admission, Authenticator } from "./authenticator.js";
import { allows, describeGrants, Right, type Principal } from "./permissions.js";

/** What the guard needs of a socket: to stop and restart reading from a client that floods. */
export interface ReadableSocket {
  readonly readyState: number;
  pause(): void;
  resume(): void;
}

/** Per session: who it is, its request budget, and the socket it currently reads from. */
interface Gate {
  principal: Principal;
  readonly bucket: TokenBucket;
  socket: ReadableSocket | undefined;
  throttle: Timer | null;
  /** Its frames are handled one per turn of the event loop, since it was throttled and until its bucket is half full again. */
  onePerTurn: boolean;
}

const OPEN = 1;
/** Shortest pause of a flooding socket, so that a flood costs a timer every few ms at most. */
const MIN_THROTTLE_MS = 5;

/**
 * The one place where every request is checked before it runs: the session's request rate first
 * (excess: RATE_LIMITED, and its socket stops being read until the bucket refills, so that a flood
 * is held back by TCP rather than by the server's CPU), then the principal's permissions for the op
 * and every name it touches (PERMISSION_DENIED). A refused request has no effect; the connection stays.
 */
export class Guard {
  readonly #gates = new WeakMap<Session, Gate>();
  /**
   * One error for every refusal of the rate limit: a flood is answered with thousands of them, and
   * capturing a stack trace for each would cost more than the requests themselves.
   */
  readonly #rateLimited: ServerError;

  constructor(
    readonly authenticator: Authenticator,
    readonly limits: Limits,
    readonly clock: Clock,
  ) {
    this.#rateLimited = new ServerError(
      ErrorCode.RATE_LIMITED,
      `more than ${limits.maxRequestsPerSecond} requests per second (burst ${limits.requestBurst}); slow down and retry`,
    );
  }

  /** Checks the credential of a `hello`: synchronous unless it is a JWT. */
  authenticate(credential: string | undefined): Admission | Promise<Admission> {
    return this.authenticator.authenticate(credential);
  }

  /**
   * A session may be resumed only by the principal that opened it: the session secret alone does not
   * carry someone else's rights over.
   */
  mayResume(session: Session, principal: Principal): boolean {
    const gate = this.#gates.get(session);
    return gate === undefined || gate.principal.name === principal.name;
  }

  /** Binds a session (new or resumed) to its principal and to the socket it now reads from. */
  attach(session: Session, principal: Principal, socket: ReadableSocket): void {
    const gate = this.#gates.get(session);
    if (gate) {
      gate.principal = principal;
      gate.socket = socket;
      gate.throttle?.cancel();
      gate.throttle = null;
      gate.onePerTurn = false;
      return;
    }
    const { maxRequestsPerSecond, requestBurst } = this.limits;
    this.#gates.set(session, { principal, bucket: new TokenBucket(maxRequestsPerSecond, requestBurst, this.clock.now()), socket, throttle: null, onePerTurn: false });
  }

  /** True if the session's principal has `right` over `name`: for answers that list only what it may see. */
  mayUse(session: Session, right: Right, name: string): boolean {
    const principal = this.#gates.get(session)?.principal;
    return principal !== undefined && allows(principal, right, name);
  }

  /** Throws RATE_LIMITED or PERMISSION_DENIED (or UNAUTHENTICATED for a session never admitted). */
  admit(session: Session, request: Request): void {
    const gate = this.#gates.get(session);
    if (!gate) throw new ServerError(ErrorCode.UNAUTHENTICATED, "this session was not admitted by a handshake");
    // Giving things up is never rate-limited: a throttled client must still be able to leave.
    if (request.op !== "bye" && request.op !== "cancel" && !gate.bucket.take(this.clock.now())) {
      this.#throttle(gate);
      throw this.#rateLimited;
    }
    if (gate.onePerTurn && gate.bucket.tokens >= gate.bucket.capacity / 2) {
      gate.onePerTurn = false;
      if (gate.socket) setOnePerTurn(gate.socket, false);
    }
    if (!gate.principal.unrestricted) authorize(gate.principal, request);
  }

  /**
   * Stops reading the flooding socket until the bucket has a token again. Frames it had already
   * read (a single read holds thousands of small ones) are still answered, but one per turn of the
   * event loop rather than back to back, so that other sessions' requests are read in between.
   */
  #throttle(gate: Gate): void {
    const socket = gate.socket;
    if (gate.throttle || !socket || socket.readyState !== OPEN) return;
    socket.pause();
    gate.onePerTurn = true;
    setOnePerTurn(socket, true);
    gate.throttle = this.clock.setTimer(Math.max(MIN_THROTTLE_MS, gate.bucket.msUntilToken(this.clock.now())), () => {
      gate.throttle = null;
      if (gate.socket === socket && socket.readyState === OPEN) socket.resume();
    });
  }
}

/**
 * ws emits every message of a read synchronously unless its receiver's `allowSynchronousEvents` is
 * off, in which case each message waits for the next turn of the event loop. That costs throughput,
 * so it is switched off only for a socket that is being throttled. (A ws internal: if a future ws
 * renames it, throttling still works, only without this interleaving.)
 */
function setOnePerTurn(socket: ReadableSocket, onePerTurn: boolean): void {
  const receiver = (socket as { _receiver?: { _allowSynchronousEvents?: unknown } })._receiver;
  if (receiver && typeof receiver._allowSynchronousEvents === "boolean") receiver._allowSynchronousEvents = !onePerTurn;
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
