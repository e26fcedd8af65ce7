import { CloseCode, ErrorCode, PROTOCOL_VERSION, SUPPORTED_VERSIONS, decodeClientMessage, type Hello, type ServerMessage, type Timer, type Welcome } from "@leasehold/protocol";
import type { Admission } from "../auth/authenticator.js";
import type { Guard } from "../auth/guard.js";
import type { Principal } from "../auth/permissions.js";
import { sessionOwner } from "../auth/session-owner.js";
import type { Coordinator } from "../core/coordinator.js";
import type { Session } from "../core/model.js";
import { boundHandshake, tooManyHandshakeFrames } from "./handshake-budget.js";
import type { PeerSocket, Wire } from "./peer-socket.js";

/** What the handshake needs of its connection. */
export interface HandshakeHost {
  readonly socket: PeerSocket;
  /** The peer's IP address (whose account an anonymous session counts against), and with its port. */
  readonly ip: string;
  readonly address: string;
  readonly coordinator: Coordinator;
  readonly guard: Guard;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
  /** Answers a frame that cannot be trusted with an error, then closes. */
  refuse(code: ErrorCode, message: string): void;
  /** Runs `answer` (a refusal at a cap) after the refusal hold, the socket unread meanwhile (refusal-hold.ts). */
  holdRefusal(answer: () => void): void;
  /** Leaves the handshake and cuts the peer off without reading more. */
  cutOff(code: CloseCode, reason: string): void;
  /** The session is admitted: the connection serves it from now on. */
  attach(session: Session, principal: Principal): void;
  /** Handles a frame that arrived while the hello's JWT was verified, in its turn. */
  replay(data: Buffer, isBinary: boolean): void;
}

/**
 * A connection before `hello` succeeds: nothing from the peer can be trusted yet, so it may send few
 * frames and bytes (handshake-budget.ts) within the handshake deadline, and the first must be a valid
 * hello. The hello is checked (version, credential), and the session resumed (same principal, right
 * secret) or opened, and welcomed.
 */
export class Handshake {
  readonly phase = "handshake";
  #frames = 0;
  /** Frames that arrived while a JWT was verified, handled in order once it is. */
  #held: [Buffer, boolean][] | undefined;
  #ended = false;
  readonly #timer: Timer;
  readonly #liftBound: () => void;

  constructor(
    readonly connection: HandshakeHost,
    /** The TCP (or TLS) stream under the WebSocket, bounded until the handshake completes. */
    raw: Wire,
  ) {
    const options = connection.coordinator.options;
    this.#timer = options.clock.setTimer(options.handshakeTimeoutMs, () => connection.close(CloseCode.HANDSHAKE_TIMEOUT, "no hello within the handshake deadline"));
    this.#liftBound = boundHandshake(raw, connection.socket, options);
  }

  frame(data: Buffer, isBinary: boolean): void {
    // Refused and held (or over): frames read before the socket paused are ignored, so that one
    // pipelined behind the hello cannot end the hold early with an answer of its own.
    if (this.#ended) return;
    const connection = this.connection;
    const options = connection.coordinator.options;
    if (tooManyHandshakeFrames(++this.#frames, options)) {
      connection.cutOff(CloseCode.MESSAGE_TOO_BIG, `more than ${options.maxHandshakeFrames} frames before the handshake completed`);
      return;
    }
    if (this.#held) return void this.#held.push([data, isBinary]);
    if (!isBinary) return connection.refuse(ErrorCode.BAD_REQUEST, "text frames are not part of the protocol; send one msgpack value per binary frame");
    const decoded = decodeClientMessage(data);
    if (!decoded.ok) return connection.refuse(decoded.code, decoded.error);
    const message = decoded.message;
    if (message.op === "hello") this.#onHello(message);
    else connection.refuse(ErrorCode.HANDSHAKE_REQUIRED, `the first message must be hello, not ${message.op}`);
  }

  /** The handshake is over (admitted, refused or closed): its deadline and its byte bound go. */
  end(): void {
    this.#ended = true;
    this.#timer.cancel();
    this.#liftBound();
  }

  #onHello(hello: Hello): void {
    const connection = this.connection;
    if (!SUPPORTED_VERSIONS.includes(hello.version)) {
      connection.send({
        type: "error",
        code: ErrorCode.UNSUPPORTED_VERSION,
        message: `protocol version ${hello.version} is not supported; this server speaks ${SUPPORTED_VERSIONS.join(", ")}`,
      });
      connection.close(CloseCode.UNSUPPORTED_VERSION, "unsupported protocol version");
      return;
    }
    const admission = connection.guard.authenticate(hello.auth);
    if (!(admission instanceof Promise)) return this.#admit(hello, admission);
    // A JWT is verified asynchronously: frames that follow the hello wait, in order, and reading stops meanwhile.
    this.#held = [];
    connection.socket.pause();
    void admission.then((outcome) => {
      if (this.#ended) return;
      const held = this.#held ?? [];
      this.#held = undefined;
      connection.socket.resume();
      this.#admit(hello, outcome);
      for (const [data, isBinary] of held) connection.replay(data, isBinary);
    });
  }

  #admit(hello: Hello, admission: Admission): void {
    if (this.#ended) return;
    const connection = this.connection;
    const { coordinator, guard } = connection;
    if (!admission.ok) {
      coordinator.options.logger?.info({ address: connection.address, agent: hello.agent, reason: admission.reason }, "connection refused: not authenticated");
      coordinator.events.connectionRefused("auth");
      connection.send({ type: "error", code: ErrorCode.UNAUTHENTICATED, message: admission.reason });
      connection.close(CloseCode.UNAUTHENTICATED, "not authenticated");
      return;
    }
    let session = hello.resume ? coordinator.findSession(hello.resume.session, hello.resume.secret) : undefined;
    if (session && !guard.mayResume(session, admission.principal)) session = undefined;
    const resumed = session !== undefined;
    const owner = sessionOwner(admission.principal, connection.ip);
    if (session) {
      if (session.outlet) {
        coordinator.options.logger?.info({ session: session.id, from: session.outlet.address, to: connection.address }, "session taken over by a new connection");
        session.outlet.close(CloseCode.SESSION_TAKEN_OVER, "another connection resumed this session");
      }
      session.address = connection.address;
      // The principal's limits as they are now (its token's may have changed since a restart).
      if (session.account.key === owner.account) coordinator.accounts.open(owner.account, owner.limits);
    } else {
      try {
        session = coordinator.openSession(connection.address, hello.agent, owner);
      } catch (error) {
        // A session cap (the principal's, the server's): retrying at once cannot help, so the answer
        // waits out the refusal hold, the handshake's deadline no longer running.
        const message = error instanceof Error ? error.message : String(error);
        this.end();
        connection.holdRefusal(() => {
          connection.send({ type: "error", code: ErrorCode.LIMIT_EXCEEDED, message });
          connection.close(CloseCode.TOO_MANY_SESSIONS, "too many sessions");
        });
        return;
      }
    }
    this.end();
    connection.attach(session, admission.principal);
    connection.send(welcome(coordinator, session, resumed));
  }
}

function welcome(coordinator: Coordinator, session: Session, resumed: boolean): Welcome {
  return {
    type: "welcome",
    version: PROTOCOL_VERSION,
    session: session.id,
    secret: session.secret,
    resumed,
    heartbeat: coordinator.heartbeatInterval(session),
    baseHeartbeat: coordinator.baseHeartbeatInterval(),
    sessionGrace: coordinator.options.sessionGraceMs,
    // The server's limits, with this principal's own quotas and TTL cap.
    limits: { ...coordinator.options.limits, ...session.account.limits, maxTtlMs: coordinator.maxTtlMs(session) },
    resync: resumed ? coordinator.resync(session) : undefined,
  };
}
