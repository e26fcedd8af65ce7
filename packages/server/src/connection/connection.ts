import {
  CloseCode,
  ErrorCode,
  decodeClientMessage,
  deliverReadsDirectly,
  readPong,
  type Request,
  type RequestOf,
  type RequestOp,
  type ServerMessage,
} from "@leasehold/protocol";
import type { CommitPipeline, Sender } from "../persistence/commit.js";
import type { Coordinator } from "../core/coordinator.js";
import { dispatch } from "../handlers/dispatch.js";
import type { RequestContext } from "../handlers/handler.js";
import { ServerError } from "../errors.js";
import type { Outlet, Session } from "../core/model.js";
import type { Principal } from "../auth/permissions.js";
import { closeWithoutReading, cutOff } from "./cut-off.js";
import { Handshake, type HandshakeHost } from "./handshake.js";
import type { Guard } from "../auth/guard.js";
import { pongHeard, type Beating, type Heartbeats, type PingLane } from "./heartbeat.js";
import type { RefusalHolds } from "./refusal-hold.js";
import type { TurnBudget } from "./turn-budget.js";
import { batchWrites } from "./write-batch.js";
import { directStream, sendBinary, sendMessage } from "./frame-writer.js";
import { EncodedRefusals } from "./encoded-refusals.js";
import { pingFrame } from "./ping-frame.js";
import { isLastFrameOfRead, readFramesDirectly } from "./frame-reader.js";
import type { PeerSocket, Wire } from "./peer-socket.js";
import type { RawData } from "ws";

/** A connection is waiting for `hello` (handshake.ts), attached to a session, or finished. */
type State = Handshake | Attached | { phase: "closed" };

/**
 * What a connection needs of its server: one object shared by all of them, rather than fields and
 * closures repeated in every connection.
 */
export interface ConnectionHost {
  readonly coordinator: Coordinator;
  readonly commits: CommitPipeline;
  /** Authentication, permissions and the request rate: checks every frame and request before it runs. */
  readonly guard: Guard;
  /** The heartbeats of all connections (see heartbeat.ts). */
  readonly heartbeats: Heartbeats;
  /** The frames each connection may have handled in one turn of the event loop, so that none holds up the others. */
  readonly turns: TurnBudget;
  /** Refusals answered after a hold (refusal-hold.ts). */
  readonly holds: RefusalHolds;
  /** The connection's socket has closed. */
  closed(connection: Connection): void;
}

/**
 * A connection attached to its session: the open phase's state, the context its requests run in,
 * and its place in the heartbeat queue, in one object. A class, so that its methods are shared on
 * the prototype: closures made per connection would cost every idle session memory.
 */
export class Attached implements RequestContext, Beating {
  readonly phase = "open";
  /** Set when the connection leaves the session: no heartbeat is scheduled after that. */
  detached = false;
  pingAt = Number.POSITIVE_INFINITY;
  pingLane: PingLane | undefined = undefined;
  pingPrev: Beating | undefined = undefined;
  pingNext: Beating | undefined = undefined;

  constructor(
    readonly connection: Connection,
    readonly session: Session,
  ) {}

  get coordinator(): Coordinator {
    return this.connection.coordinator;
  }

  get guard(): Guard {
    return this.connection.host.guard;
  }

  /** (Re)starts the heartbeat at the session's current interval. */
  heartbeatChanged(): void {
    this.connection.host.heartbeats.restart(this);
  }

  goodbye(): void {
    const connection = this.connection;
    queueMicrotask(() => connection.close(CloseCode.NORMAL, "bye"));
  }

  ping(seq: number, ack: number): void {
    this.connection.sendPing(seq, ack);
  }
}

/**
 * One WebSocket: the frame choke point (rate, decoding, stale ids) and the hand-off of requests to
 * the handler table, with its handshake (handshake.ts) and heartbeat (heartbeat.ts) as phases and
 * parts of its own. The session it serves lives in the coordinator and may outlive it.
 */
export class Connection implements Outlet, Sender, HandshakeHost {
  #state: State;

  constructor(
    readonly socket: PeerSocket,
    /** The TCP (or TLS) stream under the WebSocket, or the link stream itself: bounded until the handshake completes, ended when the peer is cut off. */
    readonly raw: Wire,
    /** The peer's IP address (the unit of the per-address quota), and with its port. */
    readonly ip: string,
    readonly address: string,
    readonly host: ConnectionHost,
  ) {
    this.#state = new Handshake(this, raw);
    const onFrame = (data: RawData, isBinary: boolean): void => this.#onFrame(data as Buffer, isBinary);
    socket.on("message", onFrame);
    // The common frames straight to #onFrame, the rest through ws's 'message' as before (frame-reader.ts).
    readFramesDirectly(socket, onFrame);
    // And each read to ws's socket listener without the Readable's push when that is all it would do (protocol/src/read-shortcut.ts).
    deliverReadsDirectly(raw);
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

  get guard(): Guard {
    return this.host.guard;
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
    if (!this.#batched()) return;
    sendMessage(this.socket, this.raw, message);
    this.#checkBacklog();
  }

  #write(payload: Uint8Array): void {
    if (!this.#batched()) return;
    sendBinary(this.socket, this.raw, payload);
    this.#checkBacklog();
  }

  /**
   * False once the socket is no longer open; otherwise its stream is corked for this turn's writes
   * (write-batch.ts), unless this is the answer to the last frame of a read with nothing batched
   * before it, which is written at once (see isLastFrameOfRead): one client with one request in
   * flight, the common case, pays no cork, `nextTick` and uncork per reply.
   */
  #batched(): boolean {
    if (this.socket.readyState !== this.socket.OPEN) return false;
    if (this.raw.writableCorked === 0 && isLastFrameOfRead(this.socket)) return true;
    batchWrites(this.raw);
    return true;
  }

  /**
   * A heartbeat's ping: the same message as `send({type: "ping", seq, ack})`, and sent as that would be
   * when nothing waits before it (in-memory storage, no commit holding messages), as one prebuilt frame
   * (ping-frame.ts) written to the stream at once. Not corked for the turn: the pings due in one
   * timer run go to different sockets, so a batch would only add a cork, an uncork and a queued chunk
   * to each; a reply already batched on this socket this turn stays ahead of it (the stream is corked).
   */
  sendPing(seq: number, ack: number): void {
    const stream = this.commits.holdsMessages || this.socket.readyState !== this.socket.OPEN ? undefined : directStream(this.socket, this.raw);
    const frame = stream === undefined ? undefined : pingFrame(seq, ack);
    if (stream === undefined || frame === undefined) return this.send({ type: "ping", seq, ack });
    stream.write(frame);
    this.#checkBacklog();
  }

  /** A reader that does not keep up is cut off rather than buffered for without end; its leases expire as usual. */
  #checkBacklog(): void {
    if (this.socket.bufferedAmount > this.coordinator.options.limits.maxBacklogBytes) {
      this.coordinator.options.logger?.warn({ session: this.session?.id, address: this.address, buffered: this.socket.bufferedAmount }, "slow consumer closed: too much unsent data");
      this.close(CloseCode.SLOW_CONSUMER, "slow consumer: too much unsent data");
    }
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
    // A cluster leader woken from a pause must not answer even a read from state another may have replaced.
    if (!this.commits.serving()) return;
    this.host.turns.frame(this.socket);
    if (state.phase === "handshake") return state.frame(data, isBinary);
    const session = state.session;
    if (session.ended) return; // frames read after a bye, before its close: the session is gone, ignore them
    // The one clock read of the frame (its liveness), taken as well by the rate guard and the request
    // metric: a read costs 55-80 ns here, and a lock pair made ten (BENCHMARKS.md, "The server's
    // JavaScript per request (round 11)").
    this.coordinator.heard(session);
    const now = session.lastHeard;
    // Text frames are fatal: a flood of them ends at the first.
    if (!isBinary) return this.refuse(ErrorCode.BAD_REQUEST, "text frames are not part of the protocol; send one msgpack value per binary frame");
    // An idle session's one frame, read without decoding; what follows for it is the general path's for a pong.
    const pongSeq = readPong(data);
    if (pongSeq !== undefined) {
      if (this.host.guard.frame(session, "pong", now) === "cut") return this.#cutForRate(undefined);
      pongHeard(session, pongSeq);
      return;
    }
    const decoded = decodeClientMessage(data);
    const id = decoded.ok ? ("id" in decoded.message ? decoded.message.id : undefined) : decoded.id;
    // Every id received counts, whatever becomes of its request, so that a resume re-sends only what never arrived.
    const fresh = id !== undefined && this.#received(session, id);
    if (!decoded.ok && decoded.fatal) return this.refuse(decoded.code, decoded.error, id);
    // Every frame counts against the rate, refusals included: answering them costs as much as a request.
    const verdict = this.host.guard.frame(session, decoded.ok ? decoded.message.op : undefined, now);
    if (verdict === "cut") return this.#cutForRate(id);
    // A pong is never answered: past the rate it still counts, and is taken (it is cheap, and keeps the session's liveness true).
    if (verdict === "refused" && !(decoded.ok && decoded.message.op === "pong")) {
      this.#refuseRepeated(id, ErrorCode.RATE_LIMITED, this.host.guard.rateLimitedMessage);
      return;
    }
    // A frame refused whatever the rate takes ten of it in all (guard.ts): a well-behaved client never sends one.
    if (!decoded.ok) {
      this.host.guard.refusedAnyway(session);
      return this.send({ type: "error", id, code: decoded.code, message: decoded.error });
    }
    const message = decoded.message;
    switch (message.op) {
      case "hello":
        this.host.guard.refusedAnyway(session);
        this.send({ type: "error", code: ErrorCode.HANDSHAKE_REQUIRED, message: "hello was already received on this connection" });
        return;
      case "pong":
        pongHeard(session, message.seq);
        return;
      default:
        this.#onRequest(state, message, fresh, now);
    }
  }

  /** The session went on far past its rate: told why (with the id of the frame that went too far, if it had one), then closed. */
  #cutForRate(id: number | undefined): void {
    this.send({ type: "error", id, code: ErrorCode.RATE_LIMITED, message: `${this.host.guard.rateLimitedMessage}; cut off for going on far past it` });
    this.#leave();
    this.commits.after(() => closeWithoutReading(this.socket, this.raw, CloseCode.RATE_LIMITED, "far past the rate limit"));
  }

  /** `read`: when its frame was read, on the server's clock (the request metric's start). */
  #onRequest(attached: Attached, request: Request, fresh: boolean, read: number): void {
    const session = attached.session;
    // Ids name waits and subscriptions and tell a resume what arrived: one used again would shadow
    // the first (which could then never be cancelled or closed) and slip past the per-session quotas.
    if (!fresh) {
      this.host.guard.refusedAnyway(session);
      this.#refuseRepeated(request.id, ErrorCode.BAD_REQUEST, refusals.staleText(request.id, session.lastRequest));
      return;
    }
    try {
      run(attached, request);
      this.coordinator.events.requestHandled(request.op, "OK", (this.coordinator.now - read) / 1_000);
    } catch (error) {
      this.coordinator.events.requestHandled(request.op, error instanceof ServerError ? error.code : ErrorCode.INTERNAL, (this.coordinator.now - read) / 1_000);
      if (error instanceof ServerError) {
        session.fail(request.id, error.code, error.message);
      } else {
        this.coordinator.options.logger?.error({ err: error, op: request.op }, "request failed");
        session.fail(request.id, ErrorCode.INTERNAL, "the server failed to handle this request; it had no effect");
      }
    }
  }

  /**
   * Sends the `error` of a refusal that a flood repeats frame after frame (a stale id, past the rate),
   * encoded once for all its repeats (encoded-refusals.ts), in its place among the replies as `send` would.
   */
  #refuseRepeated(id: number | undefined, code: ErrorCode, message: string): void {
    const payload = refusals.encoded(id, code, message);
    this.commits.after(() => {
      if (this.commits.failure === undefined) this.#write(payload);
    });
  }

  /** Counts a request id received; false when it is not above the session's last one (a stale id). */
  #received(session: Session, id: number): boolean {
    if (id <= session.lastRequest) return false;
    session.lastRequest = id;
    this.coordinator.changes.requested(session);
    return true;
  }

  /** The handshake admitted `session`: this connection serves it from now on. */
  attach(session: Session, principal: Principal): void {
    const attached = new Attached(this, session);
    this.#state = attached;
    this.guard.attach(session, principal, this.socket);
    session.outlet = this;
    this.coordinator.heard(session);
    this.coordinator.adminFeed.sessionChanged(session);
    attached.heartbeatChanged();
  }

  replay(data: Buffer, isBinary: boolean): void {
    this.#onFrame(data, isBinary);
  }

  holdRefusal(answer: () => void): void {
    this.host.holds.hold(this.socket, answer, () => this.socket.terminate());
  }

  cutOff(code: CloseCode, reason: string): void {
    this.#leave();
    cutOff(this.socket, this.raw, code, reason);
  }

  /** Answers a frame that cannot be trusted with an error (with its id, if one could be read), then closes. */
  refuse(code: ErrorCode, message: string, id?: number): void {
    this.send({ type: "error", id, code, message });
    this.close(CloseCode.PROTOCOL_ERROR, message.slice(0, 120));
  }

  #onClose(): void {
    this.#leave();
  }

  /** Detaches from the session (which lives on, counting down) and stops this connection's timers. */
  #leave(): void {
    const state = this.#state;
    if (state.phase === "handshake") state.end();
    if (state.phase === "open") {
      state.detached = true;
      this.host.heartbeats.stop(state);
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

/** The last refusal encoded, process-wide: see encoded-refusals.ts. */
const refusals = new EncodedRefusals();

/** Runs a request and answers it now if its handler did; the reply is typed by the request's op. */
function run<Op extends RequestOp>(attached: Attached, request: RequestOf<Op>): void {
  const handled = dispatch(attached, request);
  if (handled !== "later") attached.session.reply<Op>(request.id, handled.now);
}
