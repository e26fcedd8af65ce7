import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  decodeClientMessage,
  encode,
  type ClientMessage,
  type Clock,
  type Hello,
  type Request,
  type ServerMessage,
  type Timer,
} from "@leasehold/protocol";
import type WebSocket from "ws";
import type { CommitPipeline, Sender } from "./commit.js";
import type { Coordinator } from "./coordinator.js";
import { dispatch, type RequestContext } from "./dispatch.js";
import { ServerError } from "./errors.js";
import type { Outlet, Session } from "./model.js";
import type { Admission } from "./auth/authenticator.js";
import { TimerQueue, type Scheduled } from "./timer-queue.js";

/** A connection is waiting for `hello`, attached to a session, or finished. */
type State = { phase: "handshake"; timer: Timer; held?: [Buffer, boolean][] } | Attached | { phase: "closed" };

/**
 * What a connection needs of its server: one object shared by all of them, rather than fields and
 * closures repeated in every connection.
 */
export interface ConnectionHost {
  readonly coordinator: Coordinator;
  readonly commits: CommitPipeline;
  /** The heartbeats of all connections (see heartbeatQueue). */
  readonly heartbeats: TimerQueue<Attached>;
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
    /** The peer's IP address (the unit of the per-address quota), and with its port. */
    readonly ip: string,
    readonly address: string,
    readonly host: ConnectionHost,
  ) {
    const { clock, handshakeTimeoutMs } = host.coordinator.options;
    this.#state = {
      phase: "handshake",
      timer: clock.setTimer(handshakeTimeoutMs, () => this.close(CloseCode.HANDSHAKE_TIMEOUT, "no hello within the handshake deadline")),
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
    if (this.#state.phase === "closed") return;
    if (this.#state.phase === "handshake" && this.#state.held) return void this.#state.held.push([data, isBinary]);
    if (!isBinary) {
      this.#refuse(ErrorCode.BAD_REQUEST, "text frames are not part of the protocol; send one msgpack value per binary frame");
      return;
    }
    const decoded = decodeClientMessage(data);
    if (!decoded.ok) {
      // Before the handshake, nothing from this peer can be trusted.
      if (decoded.fatal || this.#state.phase === "handshake") this.#refuse(decoded.code, decoded.error);
      else this.send({ type: "error", id: decoded.id, code: decoded.code, message: decoded.error });
      if (this.#state.phase === "open") this.coordinator.heard(this.#state.session);
      return;
    }
    const message = decoded.message;
    if (this.#state.phase === "handshake") {
      if (message.op === "hello") this.#onHello(message);
      else this.#refuse(ErrorCode.HANDSHAKE_REQUIRED, `the first message must be hello, not ${message.op}`);
      return;
    }
    this.#onMessage(this.#state.session, message);
  }

  #onMessage(session: Session, message: ClientMessage): void {
    if (session.ended) return; // frames read after a bye, before its close: the session is gone, ignore them
    this.coordinator.heard(session);
    switch (message.op) {
      case "hello":
        this.send({ type: "error", code: ErrorCode.HANDSHAKE_REQUIRED, message: "hello was already received on this connection" });
        return;
      case "pong":
        if (message.seq > session.pongSeq && message.seq <= session.pingSeq) session.pongSeq = message.seq;
        return;
      default:
        this.#onRequest(session, message);
    }
  }

  #onRequest(session: Session, request: Request): void {
    if (this.#state.phase !== "open") return;
    // Ids name waits and subscriptions and tell a resume what arrived: one used again would shadow
    // the first (which could then never be cancelled or closed) and slip past the per-session quotas.
    if (request.id <= session.lastRequest) {
      session.fail(request.id, ErrorCode.BAD_REQUEST, `request id ${request.id} is not above this session's last request id ${session.lastRequest}; every request needs a larger id than the one before`);
      return;
    }
    session.lastRequest = request.id;
    this.coordinator.journal.requested(session);
    try {
      const handled = dispatch(this.#state, request);
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
    if (session) {
      session.outlet?.close(CloseCode.SESSION_TAKEN_OVER, "another connection resumed this session");
      session.address = this.address;
    } else {
      try {
        session = coordinator.openSession(this.address, hello.agent);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.send({ type: "error", code: ErrorCode.LIMIT_EXCEEDED, message });
        this.close(CloseCode.TOO_MANY_SESSIONS, "too many sessions");
        return;
      }
    }
    this.#state.timer.cancel();
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
      limits: coordinator.options.limits,
      resync: resumed ? coordinator.resync(session) : undefined,
    });
    attached.heartbeatChanged();
  }

  /** Answers a frame that cannot be trusted with an error, then closes. */
  #refuse(code: ErrorCode, message: string): void {
    this.send({ type: "error", code, message });
    this.close(CloseCode.PROTOCOL_ERROR, message.slice(0, 120));
  }

  #onClose(): void {
    this.#leave();
  }

  /** Detaches from the session (which lives on, counting down) and stops this connection's timers. */
  #leave(): void {
    const state = this.#state;
    if (state.phase === "handshake") state.timer.cancel();
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
