import {
  CloseCode,
  DEFAULT_LIMITS,
  ErrorCode,
  HEARTBEAT_DEFAULTS,
  LocalCloseCode,
  decodeServerMessage,
  encode,
  encodeTransient,
  readCommonReply,
  reconnectPolicy,
  type ClientMessage,
  type Clock,
  type Hello,
  type ServerMessage,
  type Timer,
  type Welcome,
} from "@leasehold/protocol";
import { DEFAULT_BACKOFF, backoffDelay, type Backoff } from "./backoff.js";
import { readFramesDirectly, stopReadingFramesDirectly } from "./frame-reader.js";
import { sendBinary, sendTransient } from "./frame-sender.js";
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

/**
 * The connection as its user sees it (`client.state`):
 * - `idle`: not opened yet.
 * - `connecting`: dialling `url` for a first session (`attempt` counts the URLs tried so far).
 * - `open`: connected to `url` and attached to `session` since `since` (the client clock's ms).
 * - `reconnecting`: the link was lost at `since` (closed with `code`, `reason`); dialling `url`, or
 *   waiting out a backoff before the next dial while `url` is undefined. Everything held stays valid
 *   until its own deadline.
 * - `closed`: for good (`close()`, a close code after which redialling is useless, or a first dial that failed).
 */
export type ConnectionState =
  | { readonly kind: "idle" }
  | { readonly kind: "connecting"; readonly url: string; readonly attempt: number }
  | { readonly kind: "open"; readonly url: string; readonly session: string; readonly since: number }
  | {
      readonly kind: "reconnecting";
      readonly url: string | undefined;
      readonly attempt: number;
      readonly since: number;
      readonly code: number;
      readonly reason: string;
    }
  | { readonly kind: "closed"; readonly code: number; readonly reason: string };

/** The transport's timing constants, injected so that tests can fix them. */
export interface TransportTiming {
  readonly backoff: Backoff;
  /** How long a dial may take from the socket's creation to the welcome. */
  readonly handshakeTimeoutMs: number;
  /** A connection must stay up this long before the backoff starts again from the first attempt. */
  readonly stableAfterMs: number;
}

export const DEFAULT_TIMING: TransportTiming = {
  backoff: DEFAULT_BACKOFF,
  handshakeTimeoutMs: 10_000,
  stableAfterMs: 5_000,
};

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
  /** `state` changed. */
  stateChanged(state: ConnectionState): void;
}

export interface TransportOptions {
  /** Dialled in order: a failed dial or a lost connection moves on to the next, round and round. */
  readonly urls: readonly string[];
  readonly WebSocketImpl: WebSocketConstructor;
  readonly clock: Clock;
  /** Redial after a lost connection (false: the first loss closes for good). */
  readonly reconnect: boolean;
  readonly timing?: Partial<TransportTiming>;
}

/**
 * One live WebSocket at a time: dials, performs the handshake, answers heartbeats from the message
 * handler (timers in hidden browser tabs are throttled, message handlers are not), notices silence,
 * and redials with full-jitter backoff, moving along its list of URLs. It knows nothing of leases
 * or locks. Every change of state goes through `#enter`.
 */
export class Transport {
  readonly urls: readonly string[];
  #phase: Phase = { kind: "idle" };
  /** The caller of `start()`, waiting for the first welcome; a second `start()` gets the same promise. */
  #opening: Opening | undefined;
  /** Where the next dial goes, an index into `urls`. */
  #nextUrl = 0;
  #expectedPingMs: number = HEARTBEAT_DEFAULTS.heartbeatMs;
  #lastFrameAt = 0;
  /** The server's frame limit, from its welcome; a larger frame would make it close the connection. */
  #maxFrameBytes: number = DEFAULT_LIMITS.maxFrameBytes;
  readonly #timing: TransportTiming;
  readonly #WebSocketImpl: WebSocketConstructor;
  readonly #clock: Clock;
  readonly #reconnect: boolean;

  constructor(
    options: TransportOptions,
    readonly events: TransportEvents,
  ) {
    if (options.urls.length === 0) throw new TypeError("connect() needs at least one URL");
    this.urls = [...options.urls];
    this.#WebSocketImpl = options.WebSocketImpl;
    this.#clock = options.clock;
    this.#reconnect = options.reconnect;
    this.#timing = { ...DEFAULT_TIMING, ...options.timing };
  }

  get state(): ConnectionState {
    return publicState(this.#phase);
  }

  get isOpen(): boolean {
    return this.#phase.kind === "open";
  }

  /**
   * Dials; resolves on the first welcome. With several URLs, each is tried once, in order, without
   * waiting; rejects (with the last URL's coded error) if none answers. Called again while that dial
   * is in flight, returns the same promise; called while connected or reconnecting, resolves at once.
   */
  start(): Promise<void> {
    if (this.#opening) return this.#opening.promise;
    if (this.#phase.kind !== "idle" && this.#phase.kind !== "closed") return Promise.resolve();
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#opening = { promise, resolve, reject, untried: this.urls.length };
    this.#dial(0, undefined);
    return promise;
  }

  /**
   * Sends now (true) or not at all while there is no open connection (false). Throws a
   * LimitExceededError for a message larger than the server accepts: it could never be sent.
   */
  send(message: ClientMessage): boolean {
    // Valid until the next encode: sent (copied into its frame) before anything else is encoded.
    const frame = encodeTransient(message);
    if (frame.byteLength > this.#maxFrameBytes) {
      throw new LimitExceededError(
        ErrorCode.LIMIT_EXCEEDED,
        `the ${message.op} message is ${frame.byteLength} bytes, more than the server's limit of ${this.#maxFrameBytes}; it was not sent`,
      );
    }
    if (this.#phase.kind !== "open" || this.#phase.socket.readyState !== OPEN) return false;
    sendTransient(this.#phase.socket, frame);
    return true;
  }

  /** The heartbeat interval the server will use (see `heartbeatInterval`); silence of several intervals means the link is dead. */
  expectPingsEvery(ms: number): void {
    this.#expectedPingMs = ms;
  }

  /** Closes for good. Sends nothing; callers say `bye` first when they want a clean close. */
  close(code: number = CloseCode.NORMAL, reason = "client closed"): void {
    this.#enter({ kind: "closed", code, reason }, { code, reason });
    // A `connect()` still waiting for its first connection would otherwise wait forever.
    this.#settleOpening(new ConnectionError(ErrorCode.CLIENT_CLOSED, `the client was closed before it connected to ${this.urls.join(" or ")}`));
  }

  /** Dials now: after a `close` (a page back from the bfcache), or cutting a backoff wait short (the network is back). */
  wake(): void {
    const phase = this.#phase;
    if (phase.kind === "waiting") this.#dial(phase.attempt, phase.lost);
    else if (phase.kind === "closed") this.#dial(0, undefined);
  }

  /** Drops the current socket as if the network had failed, and reconnects (if enabled). */
  drop(reason: string): void {
    // A dial in progress is left to its own handshake timeout.
    if (this.#phase.kind !== "open") return;
    this.#lost(LocalCloseCode.ABNORMAL, reason, undefined);
  }

  /** The one place where the state changes: it cancels the timers and lets go of the socket the old state owned. */
  #enter(next: Phase, closeSocketWith: { code: number; reason: string } = ABANDONED): void {
    const previous = this.#phase;
    this.#phase = next;
    if (previous.kind === "connecting") previous.handshakeTimer.cancel();
    if (previous.kind === "open") previous.silenceTimer?.cancel();
    if (previous.kind === "waiting") previous.timer.cancel();
    const previousSocket = socketOf(previous);
    if (previousSocket && previousSocket !== socketOf(next)) discard(previousSocket, closeSocketWith);
    this.events.stateChanged(publicState(next));
  }

  #dial(attempt: number, lost: Lost | undefined): void {
    const url = this.urls[this.#nextUrl % this.urls.length]!;
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocketImpl(url);
    } catch (error) {
      this.#failed(attempt, lost, LocalCloseCode.ABNORMAL, new ConnectionError(ErrorCode.NOT_CONNECTED, `could not open a socket to ${url}: ${String(error)}`));
      return;
    }
    // Browsers deliver Blobs unless told otherwise; Node's ws already delivers Buffers, which need no copy.
    if (socket.binaryType !== "nodebuffer") socket.binaryType = "arraybuffer";
    const handshakeTimer = this.#clock.setTimer(this.#timing.handshakeTimeoutMs, () => {
      abandon(new TimeoutError(ErrorCode.TIMEOUT, `no welcome from ${url} within ${this.#timing.handshakeTimeoutMs} ms`));
    });
    this.#enter({ kind: "connecting", url, attempt, socket, handshakeTimer, lost });
    let welcomed = false;
    let refusal: LeaseholdError | undefined;
    const current = () => socketOf(this.#phase) === socket;
    const abandon = (error: LeaseholdError) => {
      if (current()) this.#failed(attempt, lost, LocalCloseCode.ABNORMAL, error);
    };
    socket.onopen = () => {
      // On Node's ws, the common frames from here on reach `onData` without ws's Receiver (frame-reader.ts).
      readFramesDirectly(socket, onData);
      sendBinary(socket, encode(this.events.hello()));
    };
    socket.onmessage = (event) => onData(event.data);
    const onData = (data: unknown): void => {
      this.#lastFrameAt = this.#clock.now();
      const message = readServerMessage(data);
      if (typeof message === "string") {
        const reason = `unreadable frame from the server: ${message}`;
        if (welcomed) this.drop(reason);
        else abandon(new ConnectionError(ErrorCode.NOT_CONNECTED, reason));
        return;
      }
      if (!welcomed) {
        if (message.type !== "welcome") {
          // An error before the welcome (unsupported version, refused credential) explains the close that follows.
          if (message.type === "error") refusal = errorFromCode(message.code, `${url} refused the connection: ${message.message}`);
          return;
        }
        welcomed = true;
        this.expectPingsEvery(message.heartbeat);
        this.#maxFrameBytes = message.limits.maxFrameBytes;
        this.#enter({ kind: "open", url, attempt, socket, since: this.#clock.now(), session: message.session, silenceTimer: undefined });
        this.#watchSilence();
        this.events.welcomed(message);
        this.#settleOpening(undefined);
        return;
      }
      // The owner sees the ping first, so that the pong's recorded send time is never later than the real one.
      this.events.message(message);
      if (message.type === "ping" && socket.readyState === OPEN) sendBinary(socket, encode({ op: "pong", seq: message.seq }));
    };
    socket.onclose = (event) => {
      this.events.linkFailed();
      if (!current()) return;
      if (welcomed) {
        this.#lost(event.code, event.reason, undefined);
        return;
      }
      const error = refusal ?? new ConnectionError(ErrorCode.NOT_CONNECTED, `could not connect to ${url}: closed with ${event.code} ${event.reason}`.trim());
      this.#failed(attempt, lost, event.code, error);
    };
    socket.onerror = () => {
      // Always followed by onclose, which decides what happens next; the deadlines are checked at once.
      this.events.linkFailed();
    };
  }

  /**
   * A dial that never got its welcome. While `start()` waits, the next URL is tried at once, and
   * once each has failed, `start()` rejects; later failures retry with backoff.
   */
  #failed(attempt: number, lost: Lost | undefined, code: number, error: LeaseholdError): void {
    this.#nextUrl++;
    const opening = this.#opening;
    if (opening) {
      opening.untried--;
      if (opening.untried > 0 && reconnectPolicy(code) === "resume") {
        this.#dial(attempt, lost);
        return;
      }
      this.#enter({ kind: "closed", code, reason: error.message });
      this.#settleOpening(error);
      return;
    }
    this.#lost(code, error.message, { attempt, lost });
  }

  /** The socket is gone: tell the owner, then wait and redial (at the next URL) unless the close was final. */
  #lost(code: number, reason: string, failedDial: { attempt: number; lost: Lost | undefined } | undefined): void {
    const phase = this.#phase;
    const final = !this.#reconnect || reconnectPolicy(code) === "stop";
    if (final) {
      this.#enter({ kind: "closed", code, reason }, { code: DROPPED, reason });
      this.events.down(code, reason, true);
      return;
    }
    // A connection cut off before it was stable (close 4008, 4005, 4007 soon after the welcome) counts
    // as one more failed attempt: restarting the backoff at each welcome had a client cut off at once
    // redial every 200 ms for ever.
    let attempt = failedDial === undefined ? 0 : failedDial.attempt + 1;
    if (phase.kind === "open") {
      this.#nextUrl++;
      if (this.#clock.now() - phase.since < this.#timing.stableAfterMs) attempt = phase.attempt + 1;
    }
    const lost = failedDial?.lost ?? { since: this.#clock.now(), code, reason };
    const wait = Math.min(backoffDelay(attempt, this.#timing.backoff), this.events.maxReconnectDelay());
    const timer = this.#clock.setTimer(wait, () => this.#dial(attempt, lost));
    this.#enter({ kind: "waiting", attempt, timer, lost }, { code: DROPPED, reason });
    if (failedDial === undefined) this.events.down(code, reason, false);
  }

  /** Drops the link when the server has been silent for three heartbeat intervals. */
  #watchSilence(): void {
    const phase = this.#phase;
    if (phase.kind !== "open") return;
    const limit = this.#expectedPingMs * 3 + 100;
    const silentFor = this.#clock.now() - this.#lastFrameAt;
    if (silentFor >= limit) {
      this.drop(`no word from the server for ${Math.round(silentFor)} ms`);
      return;
    }
    phase.silenceTimer = this.#clock.setTimer(limit - silentFor, () => this.#watchSilence());
  }

  /** Settles a pending `start()`: resolved without an error, rejected with one. */
  #settleOpening(error: Error | undefined): void {
    const opening = this.#opening;
    this.#opening = undefined;
    if (!opening) return;
    if (error) opening.reject(error);
    else opening.resolve();
  }
}

const OPEN = 1;
/** The code the client closes a socket with when it gives it up (dead, silent, or a failed handshake). */
const DROPPED = CloseCode.PROTOCOL_ERROR;
const ABANDONED = { code: DROPPED, reason: "handshake failed" };

/** When and why the link was lost, kept across the redials that follow. */
type Lost = { readonly since: number; readonly code: number; readonly reason: string };

type Opening = { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void; untried: number };

/** The transport's own state: the public one plus the socket and timers it owns. */
type Phase =
  | { kind: "idle" }
  | { kind: "connecting"; url: string; attempt: number; socket: WebSocketLike; handshakeTimer: Timer; lost: Lost | undefined }
  | { kind: "open"; url: string; attempt: number; socket: WebSocketLike; since: number; session: string; silenceTimer: Timer | undefined }
  | { kind: "waiting"; attempt: number; timer: Timer; lost: Lost }
  | { kind: "closed"; code: number; reason: string };

function publicState(phase: Phase): ConnectionState {
  switch (phase.kind) {
    case "idle":
      return { kind: "idle" };
    case "connecting":
      if (phase.lost === undefined) return { kind: "connecting", url: phase.url, attempt: phase.attempt };
      return { kind: "reconnecting", url: phase.url, attempt: phase.attempt, ...phase.lost };
    case "open":
      return { kind: "open", url: phase.url, session: phase.session, since: phase.since };
    case "waiting":
      return { kind: "reconnecting", url: undefined, attempt: phase.attempt, ...phase.lost };
    case "closed":
      return { kind: "closed", code: phase.code, reason: phase.reason };
  }
}

function socketOf(phase: Phase): WebSocketLike | undefined {
  return phase.kind === "connecting" || phase.kind === "open" ? phase.socket : undefined;
}

function discard(socket: WebSocketLike, close: { code: number; reason: string }): void {
  socket.onopen = null;
  socket.onmessage = null;
  stopReadingFramesDirectly(socket);
  socket.onclose = null;
  // Not null: Node's ws emits "error" when a socket still connecting is closed, and an "error"
  // event nobody listens to would crash the process.
  socket.onerror = () => {};
  try {
    socket.close(close.code, close.reason);
  } catch {
    // A reason longer than 123 bytes throws (RFC 6455 caps it): close without one.
    try {
      socket.close(close.code);
    } catch {
      // Closing a socket that never opened can throw in some implementations; it is gone either way.
    }
  }
}

/**
 * A frame's message, or why it is unreadable. A reply to a common request in a Node Buffer (what ws
 * delivers) is read as it is (protocol/src/reply-reader.ts): the Buffer's latin1 slice cuts its
 * strings, which a plain Uint8Array would have the reader build by hand (kv.get's reply with a
 * 100-byte value: 2.3 µs through a view, 1.5 µs from the Buffer, 0.2 µs more to make the view).
 * Everything else is decoded through a plain view (see `toBytes`).
 */
function readServerMessage(data: unknown): ServerMessage | string {
  const reply = data instanceof Uint8Array ? readCommonReply(data) : undefined;
  if (reply !== undefined) return reply;
  const frame = toBytes(data);
  if (frame === undefined) return "not binary";
  const decoded = decodeServerMessage(frame);
  return decoded.ok ? decoded.message : decoded.error;
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  // Node's Buffer is read through a plain Uint8Array view, so that binary values come out as Uint8Array as in browsers.
  if (data instanceof Uint8Array) return data.constructor === Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
