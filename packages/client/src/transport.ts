import {
  CloseCode,
  DEFAULT_LIMITS,
  ErrorCode,
  HEARTBEAT_DEFAULTS,
  decodeServerMessage,
  encode,
  type ClientMessage,
  type Clock,
  type Hello,
  type ServerMessage,
  type Timer,
  type Welcome,
} from "@leasehold/protocol";
import { fullJitterDelay } from "./backoff.js";
import { ConnectionError, LimitExceededError, TimeoutError, errorFromCode, type LeaseholdError } from "./errors.js";

/** The part of the WebSocket API the client uses, the same in browsers and in Node's `ws`. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;
/** How long a dial may take from socket open to welcome. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A connection must stay up this long before the backoff starts again from the first attempt. */
const STABLE_AFTER_MS = 5_000;

/** What the transport tells its owner. */
export interface TransportEvents {
  /** Builds the `hello` for the next handshake (fresh, or resuming the current session). */
  hello(): Hello;
  /** The handshake completed. */
  welcomed(welcome: Welcome): void;
  /** Any message after the welcome, pings included (already answered). */
  message(message: ServerMessage): void;
  /** The connection dropped; `final` means no reconnect will follow. */
  down(code: number, reason: string, final: boolean): void;
  /** The longest the next redial may wait: reconnecting after every lease has lapsed would be too late. */
  maxReconnectDelay(): number;
  /** A socket failed or closed: the link may have been dead for a while (a thawed page learns it so), check deadlines now. */
  linkFailed(): void;
}

type State =
  | { state: "connecting"; attempt: number; socket: WebSocketLike }
  | { state: "open"; attempt: number; socket: WebSocketLike; openedAt: number; silenceTimer: Timer | null }
  | { state: "waiting"; attempt: number; timer: Timer }
  | { state: "closed" };

/**
 * One live WebSocket at a time: dials, performs the handshake, answers heartbeats from the message
 * handler (timers in hidden browser tabs are throttled, message handlers are not), notices silence,
 * and redials with full-jitter backoff. It knows nothing of leases or locks.
 */
export class Transport {
  #state: State = { state: "closed" };
  /** The caller of `start()`, waiting for the first welcome. */
  #first: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #expectedPingMs: number = HEARTBEAT_DEFAULTS.heartbeatMs;
  #lastFrameAt = 0;
  /** The server's frame limit, from its welcome; a larger frame would make it close the connection. */
  #maxFrameBytes: number = DEFAULT_LIMITS.maxFrameBytes;

  constructor(
    readonly url: string,
    readonly WebSocketImpl: WebSocketConstructor,
    readonly clock: Clock,
    readonly events: TransportEvents,
    readonly reconnect: boolean,
  ) {}

  get isOpen(): boolean {
    return this.#state.state === "open";
  }

  /** Dials once; resolves on the first welcome, rejects (with a coded error) if that first attempt fails. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#first = { resolve, reject };
      this.#dial(0);
    });
  }

  /**
   * Sends now (true) or not at all while there is no open connection (false). Throws a
   * LimitExceededError for a message larger than the server accepts: it could never be sent.
   */
  send(message: ClientMessage): boolean {
    const frame = encode(message);
    if (frame.byteLength > this.#maxFrameBytes) {
      throw new LimitExceededError(
        ErrorCode.LIMIT_EXCEEDED,
        `the ${message.op} message is ${frame.byteLength} bytes, more than the server's limit of ${this.#maxFrameBytes}; it was not sent`,
      );
    }
    if (this.#state.state !== "open" || this.#state.socket.readyState !== OPEN) return false;
    this.#state.socket.send(frame);
    return true;
  }

  /** The heartbeat interval the server will use (see `heartbeatInterval`); silence of several intervals means the link is dead. */
  expectPingsEvery(ms: number): void {
    this.#expectedPingMs = ms;
  }

  /** Closes for good. Sends nothing; callers say `bye` first when they want a clean close. */
  close(code: number = CloseCode.NORMAL, reason = "client closed"): void {
    const state = this.#state;
    this.#state = { state: "closed" };
    // A `connect()` still waiting for its first connection would otherwise wait forever.
    const first = this.#first;
    this.#first = undefined;
    first?.reject(new ConnectionError(ErrorCode.CLIENT_CLOSED, `the client was closed before it connected to ${this.url}`));
    if (state.state === "waiting") state.timer.cancel();
    if (state.state === "open") state.silenceTimer?.cancel();
    if (state.state === "open" || state.state === "connecting") {
      detach(state.socket);
      try {
        state.socket.close(code, reason);
      } catch {
        // Closing a socket that never opened can throw in some implementations; it is gone either way.
      }
    }
  }

  /** Dials now: after a `close` (a page back from the bfcache), or cutting a backoff wait short (the network is back). */
  wake(): void {
    const state = this.#state;
    if (state.state === "waiting") {
      state.timer.cancel();
      this.#dial(state.attempt);
    } else if (state.state === "closed") {
      this.#dial(0);
    }
  }

  /** Drops the current socket as if the network had failed, and reconnects (if enabled). */
  drop(reason: string): void {
    // A dial in progress is left to its own handshake timeout.
    if (this.#state.state !== "open") return;
    this.#state.silenceTimer?.cancel();
    const socket = this.#state.socket;
    detach(socket);
    try {
      socket.close(4000, reason);
    } catch {
      // As above.
    }
    this.#lost(1006, reason, undefined);
  }

  #dial(attempt: number): void {
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (error) {
      this.#failed(attempt, 1006, new ConnectionError(ErrorCode.NOT_CONNECTED, `could not open a socket to ${this.url}: ${String(error)}`));
      return;
    }
    // Browsers deliver Blobs unless told otherwise; Node's ws already delivers Buffers, which need no copy.
    if (socket.binaryType !== "nodebuffer") socket.binaryType = "arraybuffer";
    this.#state = { state: "connecting", attempt, socket };
    let welcomed = false;
    let refusal: LeaseholdError | undefined;
    const abandon = (error: LeaseholdError) => {
      handshakeTimer.cancel();
      if (this.#state.state !== "connecting" || this.#state.socket !== socket) return;
      detach(socket);
      try {
        socket.close(4000, "handshake failed");
      } catch {
        // A socket that never opened may refuse to close; it is gone either way.
      }
      this.#failed(attempt, 1006, error);
    };
    const handshakeTimer = this.clock.setTimer(HANDSHAKE_TIMEOUT_MS, () => {
      abandon(new TimeoutError(ErrorCode.TIMEOUT, `no welcome from ${this.url} within ${HANDSHAKE_TIMEOUT_MS} ms`));
    });
    socket.onopen = () => {
      socket.send(encode(this.events.hello()));
    };
    socket.onmessage = (event) => {
      const frame = toBytes(event.data);
      this.#lastFrameAt = this.clock.now();
      const decoded = frame ? decodeServerMessage(frame) : undefined;
      if (!decoded?.ok) {
        const reason = `unreadable frame from the server: ${decoded && !decoded.ok ? decoded.error : "not binary"}`;
        if (welcomed) this.drop(reason);
        else abandon(new ConnectionError(ErrorCode.NOT_CONNECTED, reason));
        return;
      }
      const message = decoded.message;
      if (!welcomed) {
        if (message.type !== "welcome") {
          // An error before the welcome (unsupported version, refused credential) explains the close that follows.
          if (message.type === "error") refusal = errorFromCode(message.code, `${this.url} refused the connection: ${message.message}`);
          return;
        }
        welcomed = true;
        handshakeTimer.cancel();
        this.#state = { state: "open", attempt, socket, openedAt: this.clock.now(), silenceTimer: null };
        this.expectPingsEvery(message.heartbeat);
        this.#maxFrameBytes = message.limits.maxFrameBytes;
        this.#watchSilence();
        this.events.welcomed(message);
        const first = this.#first;
        this.#first = undefined;
        first?.resolve();
        return;
      }
      // The owner sees the ping first, so that the pong's recorded send time is never later than the real one.
      this.events.message(message);
      if (message.type === "ping" && socket.readyState === OPEN) socket.send(encode({ op: "pong", seq: message.seq }));
    };
    socket.onclose = (event) => {
      this.events.linkFailed();
      handshakeTimer.cancel();
      detach(socket);
      if (welcomed) {
        this.#lost(event.code, event.reason, undefined);
        return;
      }
      const error = refusal ?? new ConnectionError(ErrorCode.NOT_CONNECTED, `could not connect to ${this.url}: closed with ${event.code} ${event.reason}`.trim());
      this.#failed(attempt, event.code, error);
    };
    socket.onerror = () => {
      // Always followed by onclose, which decides what happens next; the deadlines are checked at once.
      this.events.linkFailed();
    };
  }

  /** A dial that never got its welcome: the first one rejects `start()`; later ones retry with backoff. */
  #failed(attempt: number, code: number, error: LeaseholdError): void {
    const first = this.#first;
    if (first) {
      this.#first = undefined;
      this.#state = { state: "closed" };
      first.reject(error);
      return;
    }
    this.#lost(code, error.message, attempt);
  }

  /** The socket is gone: tell the owner, then wait and redial unless the close was final. */
  #lost(code: number, reason: string, failedAttempt: number | undefined): void {
    const state = this.#state;
    if (state.state === "closed" || state.state === "waiting") return;
    if (state.state === "open") state.silenceTimer?.cancel();
    const final = !this.reconnect || code === CloseCode.NORMAL || code === CloseCode.UNSUPPORTED_VERSION || code === CloseCode.UNAUTHENTICATED;
    // A connection cut off before it was stable (close 4008, 4005, 4007 soon after the welcome) counts
    // as one more failed attempt: restarting the backoff at each welcome had a client cut off at once
    // redial every 200 ms for ever.
    let attempt = failedAttempt === undefined ? 0 : failedAttempt + 1;
    if (state.state === "open" && this.clock.now() - state.openedAt < STABLE_AFTER_MS) attempt = state.attempt + 1;
    if (final) {
      this.#state = { state: "closed" };
      this.events.down(code, reason, true);
      return;
    }
    const timer = this.clock.setTimer(Math.min(fullJitterDelay(attempt), this.events.maxReconnectDelay()), () => this.#dial(attempt));
    this.#state = { state: "waiting", attempt, timer };
    if (failedAttempt === undefined) this.events.down(code, reason, false);
  }

  /** Drops the link when the server has been silent for three heartbeat intervals. */
  #watchSilence(): void {
    if (this.#state.state !== "open") return;
    const limit = this.#expectedPingMs * 3 + 100;
    const silentFor = this.clock.now() - this.#lastFrameAt;
    if (silentFor >= limit) {
      this.drop(`no word from the server for ${Math.round(silentFor)} ms`);
      return;
    }
    this.#state.silenceTimer = this.clock.setTimer(limit - silentFor, () => this.#watchSilence());
  }
}

function detach(socket: WebSocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  // Not null: Node's ws emits "error" when a socket still connecting is closed, and an "error"
  // event nobody listens to would crash the process.
  socket.onerror = () => {};
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  // Node's Buffer is read through a plain Uint8Array view, so that binary values come out as Uint8Array as in browsers.
  if (data instanceof Uint8Array) return data.constructor === Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
