import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  decodeClientMessage,
  encode,
  type Clock,
  type Hello,
  type Request,
  type ServerMessage,
  type Timer,
} from "@leasehold/protocol";
import type { Duplex } from "node:stream";
import type WebSocket from "ws";
import type { CommitPipeline, Sender } from "../persistence/commit.js";
import type { Coordinator } from "../core/coordinator.js";
import { dispatch, type RequestContext } from "../handlers/dispatch.js";
import { ServerError } from "../errors.js";
import type { Outlet, Session } from "../core/model.js";
import { sessionOwner } from "../core/accounts.js";
import type { Admission } from "../auth/authenticator.js";
import { closeWithoutReading, cutOff } from "./cut-off.js";
import { boundHandshake, tooManyHandshakeFrames } from "./handshake-budget.js";
import { TimerQueue, type Scheduled } from "../core/timer-queue.js";
import type { TurnBudget } from "./turn-budget.js";

/**
 * A connection is waiting for `hello` (with the frames it sent so far, those held while a JWT is
 * verified, and the lifting of its byte bound), attached to a session, or finished.
 */
type State = { phase: "handshake"; timer: Timer; frames: number; held?: [Buffer, boolean][]; liftBound: () => void } | Attached | { phase: "closed" };

/**
 * What a connection needs of its server: one object shared by all of them, rather than fields and
 * closures repeated in every connection.
 */
export interface ConnectionHost {
  readonly coordinator: Coordinator;
  readonly commits: CommitPipeline;
  /** The heartbeats of all connections (see heartbeatQueue). */
  readonly heartbeats: TimerQueue<Attached>;
  /** The frames each connection may have handled in one turn of the event loop, so that none holds up the others. */
  readonly turns: TurnBudget;
  /** The connection's socket has closed. */
  closed(connection: Connection): void;
}

/** The heartbeats of all of a server's connections, on one timer (see TimerQueue). */
export function heartbeatQueue(clock: Clock): TimerQueue<Attached> {
  return new TimerQueue<Attached>(clock, (attached) => attached.beat());
}

/**
 * A connection attached to its session: the open phase's state, the context its requests run in,
 * and its place in the heartbeat queue, in one object. A class, so that its methods are shared on
 * the prototype: closures made per connection would cost every idle session memory.
 */
export class Attached implements RequestContext, Scheduled {
  readonly phase = "open";
  /** Set when the connection leaves the session: no heartbeat is scheduled after that. */
  detached = false;
  dueAt = Number.POSITIVE_INFINITY;
  dueIndex = -1;
  dueSeq = 0;

  constructor(
    readonly connection: Connection,
    readonly session: Session,
  ) {}

  get coordinator(): Coordinator {
    return this.connection.coordinator;
  }

  /** (Re)starts the heartbeat at the session's current interval. */
  heartbeatChanged(): void {
    if (this.detached) return;
    this.connection.host.heartbeats.schedule(this, this.coordinator.heartbeatInterval(this.session));
  }

  goodbye(): void {
    const connection = this.connection;
    queueMicrotask(() => connection.close(CloseCode.NORMAL, "bye"));
  }

  /** The heartbeat is due: a ping, and the next one an interval later. */
  beat(): void {
    if (this.detached) return;
    const session = this.session;
    this.connection.send({ type: "ping", seq: ++session.pingSeq, ack: session.pongSeq });
    this.heartbeatChanged();
  }
}

/**
 * One WebSocket: the handshake, the frame choke point, heartbeats, and the hand-off of requests to
 * the dispatcher. The session it serves lives in the coordinator and may outlive it.
 */
export class Connection implements Outlet, Sender {
  #state: State;

  constructor(
    readonly socket: WebSocket,
    /** The TCP (or TLS) stream under the WebSocket: bounded until the handshake completes, ended when the peer is cut off. */
    readonly raw: Duplex,
    /** The peer's IP address (the unit of the per-address quota), and with its port. */
    readonly ip: string,
    readonly address: string,
    readonly host: ConnectionHost,
  ) {
    const options = host.coordinator.options;
    this.#state = {
      phase: "handshake",
      timer: options.clock.setTimer(options.handshakeTimeoutMs, () => this.close(CloseCode.HANDSHAKE_TIMEOUT, "no hello within the handshake deadline")),
      frames: 0,
      liftBound: boundHandshake(raw, socket, options),
    };
    socket.on("message", (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
    // The server's own bookkeeping runs from this listener too: each more 'close' listener would
    // cost every connection a closure, and ws's listener array grows from 2 to 19 slots at the third.
    socket.on("close", () => {
      this.#onClose();
      host.closed(this);
    });
    socket.on("error", () => this.#onClose());
  }

  get coordinator(): Coordinator {
    return this.host.coordinator;
  }

  get commits(): CommitPipeline {
    return this.host.commits;
  }

  get session(): Session | undefined {
    return this.#state.phase === "open" ? this.#state.session : undefined;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  /** Sends once the changes made before it are durable (at once with in-memory storage). */
  send(message: ServerMessage): void {
    this.commits.send(this, message);
  }

  sendNow(message: ServerMessage): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(encode(message));
    // A reader that does not keep up is cut off rather than buffered for without end; its leases expire as usual.
    if (this.socket.bufferedAmount > this.coordinator.options.limits.maxBacklogBytes) this.close(CloseCode.SLOW_CONSUMER, "slow consumer: too much unsent data");
  }

  close(code: number, reason: string): void {
    this.#leave();
    // The socket closes after what it was sent before (an error, a bye's reply), which with durable
    // storage waits for its commit.
    this.commits.after(() => {
      if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) this.socket.close(code, reason);
    });
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    const state = this.#state;
    if (state.phase === "closed") return;
    this.host.turns.frame(this.socket);
    if (state.phase === "handshake") return this.#onHandshakeFrame(state, data, isBinary);
    const session = state.session;
    if (session.ended) return; // frames read after a bye, before its close: the session is gone, ignore them
    this.coordinator.heard(session);
    // Text frames are fatal: a flood of them ends at the first.
    if (!isBinary) return this.#refuse(ErrorCode.BAD_REQUEST, "text frames are not part of the protocol; send one msgpack value per binary frame");
    const decoded = decodeClientMessage(data);
    const id = decoded.ok ? ("id" in decoded.message ? decoded.message.id : undefined) : decoded.id;
    // Every id received counts, whatever becomes of its request, so that a resume re-sends only what never arrived.
    const fresh = id !== undefined && this.#received(session, id);
    if (!decoded.ok && decoded.fatal) return this.#refuse(decoded.code, decoded.error, id);
    // Every frame counts against the rate, refusals included: answering them costs as much as a request.
    const verdict = this.coordinator.options.guard.frame(session, decoded.ok ? decoded.message.op : undefined);
    if (verdict === "cut") {
      this.send({ type: "error", id, code: ErrorCode.RATE_LIMITED, message: `${this.coordinator.options.guard.rateLimitedMessage}; cut off for going on far past it` });
      this.#leave();
      this.commits.after(() => closeWithoutReading(this.socket, this.raw, CloseCode.RATE_LIMITED, "far past the rate limit"));
      return;
    }
    // A pong is never answered: past the rate it still counts, and is taken (it is cheap, and keeps the session's liveness true).
    if (verdict === "refused" && !(decoded.ok && decoded.message.op === "pong")) {
      this.send({ type: "error", id, code: ErrorCode.RATE_LIMITED, message: this.coordinator.options.guard.rateLimitedMessage });
      return;
    }
    if (!decoded.ok) return this.send({ type: "error", id, code: decoded.code, message: decoded.error });
    const message = decoded.message;
    switch (message.op) {
      case "hello":
        this.send({ type: "error", code: ErrorCode.HANDSHAKE_REQUIRED, message: "hello was already received on this connection" });
        return;
      case "pong":
        if (message.seq > session.pongSeq && message.seq <= session.pingSeq) session.pongSeq = message.seq;
        return;
      default:
        this.#onRequest(state, message, fresh);
    }
  }

  /** Before `hello` succeeds nothing from this peer can be trusted: few frames, and the first must be a valid hello. */
  #onHandshakeFrame(state: Extract<State, { phase: "handshake" }>, data: Buffer, isBinary: boolean): void {
    const options = this.coordinator.options;
    if (tooManyHandshakeFrames(++state.frames, options)) {
      this.#leave();
      cutOff(this.socket, CloseCode.MESSAGE_TOO_BIG, `more than ${options.maxHandshakeFrames} frames before the handshake completed`);
      return;
    }
    if (state.held) return void state.held.push([data, isBinary]);
    if (!isBinary) return this.#refuse(ErrorCode.BAD_REQUEST, "text frames are not part of the protocol; send one msgpack value per binary frame");
    const decoded = decodeClientMessage(data);
    if (!decoded.ok) return this.#refuse(decoded.code, decoded.error);
    const message = decoded.message;
    if (message.op === "hello") this.#onHello(message);
    else this.#refuse(ErrorCode.HANDSHAKE_REQUIRED, `the first message must be hello, not ${message.op}`);
  }

  #onRequest(attached: Attached, request: Request, fresh: boolean): void {
    const session = attached.session;
    // Ids name waits and subscriptions and tell a resume what arrived: one used again would shadow
    // the first (which could then never be cancelled or closed) and slip past the per-session quotas.
    if (!fresh) {
      session.fail(request.id, ErrorCode.BAD_REQUEST, `request id ${request.id} is not above this session's last request id ${session.lastRequest}; every request needs a larger id than the one before`);
      return;
    }
    try {
      const handled = dispatch(attached, request);
      if (handled !== "later") session.reply(request.id, handled.now);
    } catch (error) {
      if (error instanceof ServerError) {
        session.fail(request.id, error.code, error.message);
      } else {
        this.coordinator.options.logger?.error({ err: error, op: request.op }, "request failed");
        session.fail(request.id, ErrorCode.INTERNAL, "the server failed to handle this request; it had no effect");
      }
    }
  }

  /** Counts a request id received; false when it is not above the session's last one (a stale id). */
  #received(session: Session, id: number): boolean {
    if (id <= session.lastRequest) return false;
    session.lastRequest = id;
    this.coordinator.journal.requested(session);
    return true;
  }

  #onHello(hello: Hello): void {
    if (this.#state.phase !== "handshake") return;
    if (!SUPPORTED_VERSIONS.includes(hello.version)) {
      this.send({
        type: "error",
        code: ErrorCode.UNSUPPORTED_VERSION,
        message: `protocol version ${hello.version} is not supported; this server speaks ${SUPPORTED_VERSIONS.join(", ")}`,
      });
      this.close(CloseCode.UNSUPPORTED_VERSION, "unsupported protocol version");
      return;
    }
    const admission = this.coordinator.options.guard.authenticate(hello.auth);
    if (!(admission instanceof Promise)) return this.#admit(hello, admission);
    // A JWT is verified asynchronously: frames that follow the hello wait, in order, and reading stops meanwhile.
    this.#state.held = [];
    this.socket.pause();
    void admission.then((outcome) => {
      if (this.#state.phase !== "handshake") return;
      const held = this.#state.held ?? [];
      this.#state.held = undefined;
      this.socket.resume();
      this.#admit(hello, outcome);
      for (const [data, isBinary] of held) this.#onFrame(data, isBinary);
    });
  }

  #admit(hello: Hello, admission: Admission): void {
    if (this.#state.phase !== "handshake") return;
    const coordinator = this.coordinator;
    const guard = coordinator.options.guard;
    if (!admission.ok) {
      coordinator.options.logger?.info({ address: this.address, agent: hello.agent, reason: admission.reason }, "connection refused: not authenticated");
      this.send({ type: "error", code: ErrorCode.UNAUTHENTICATED, message: admission.reason });
      this.close(CloseCode.UNAUTHENTICATED, "not authenticated");
      return;
    }
    let session = hello.resume ? coordinator.findSession(hello.resume.session, hello.resume.secret) : undefined;
    if (session && !guard.mayResume(session, admission.principal)) session = undefined;
    const resumed = session !== undefined;
    const owner = sessionOwner(admission.principal, this.ip);
    if (session) {
      session.outlet?.close(CloseCode.SESSION_TAKEN_OVER, "another connection resumed this session");
      session.address = this.address;
      // The principal's limits as they are now (its token's may have changed since a restart).
      if (session.account.key === owner.account) coordinator.accounts.open(owner.account, owner.limits);
    } else {
      try {
        session = coordinator.openSession(this.address, hello.agent, owner);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.send({ type: "error", code: ErrorCode.LIMIT_EXCEEDED, message });
        this.close(CloseCode.TOO_MANY_SESSIONS, "too many sessions");
        return;
      }
    }
    this.#state.timer.cancel();
    this.#state.liftBound();
    const attached = new Attached(this, session);
    this.#state = attached;
    guard.attach(session, admission.principal, this.socket);
    session.outlet = this;
    coordinator.heard(session);
    coordinator.adminFeed.sessionChanged(session);
    this.send({
      type: "welcome",
      version: PROTOCOL_VERSION,
      session: session.id,
      secret: session.secret,
      resumed,
      heartbeat: coordinator.heartbeatInterval(session),
      // The server's limits, with this principal's own quotas and TTL cap.
      limits: { ...coordinator.options.limits, ...session.account.limits, maxTtlMs: coordinator.maxTtlMs(session) },
      resync: resumed ? coordinator.resync(session) : undefined,
    });
    attached.heartbeatChanged();
  }

  /** Answers a frame that cannot be trusted with an error (with its id, if one could be read), then closes. */
  #refuse(code: ErrorCode, message: string, id?: number): void {
    this.send({ type: "error", id, code, message });
    this.close(CloseCode.PROTOCOL_ERROR, message.slice(0, 120));
  }

  #onClose(): void {
    this.#leave();
  }

  /** Detaches from the session (which lives on, counting down) and stops this connection's timers. */
  #leave(): void {
    const state = this.#state;
    if (state.phase === "handshake") {
      state.timer.cancel();
      state.liftBound();
    }
    if (state.phase === "open") {
      state.detached = true;
      this.host.heartbeats.cancel(state);
      if (state.session.outlet === this) {
        state.session.outlet = null;
        // Watches and observers are bound to the connection: after a resume the client opens them
        // again from the last revision it saw, so that nothing is buffered for a client that is away.
        state.session.closeSubscriptions();
        this.coordinator.adminFeed.sessionChanged(state.session);
      }
    }
    this.#state = { phase: "closed" };
  }
}
