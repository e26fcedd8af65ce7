import {
  CloseCode,
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
}

type State =
  | { state: "connecting"; attempt: number; socket: WebSocketLike }
  | { state: "open"; socket: WebSocketLike; openedAt: number; silenceTimer: Timer | null }
  | { state: "waiting"; attempt: number; timer: Timer }
  | { state: "closed" };

/**
 * One live WebSocket at a time: dials, performs the handshake, answers heartbeats from the message
 * handler (timers in hidden browser tabs are throttled, message handlers are not), notices silence,
 * and redials with full-jitter backoff. It knows nothing of leases or locks.
 */
export class Transport {
  #state: State = { state: "closed" };
  #expectedPingMs: number = HEARTBEAT_DEFAULTS.heartbeatMs;
  #lastFrameAt = 0;

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

  /** Dials once; resolves on the first welcome, rejects if that first attempt fails. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#dial(0, { resolve, reject });
    });
  }

  send(message: ClientMessage): boolean {
    if (this.#state.state !== "open" || this.#state.socket.readyState !== OPEN) return false;
    this.#state.socket.send(encode(message));
    return true;
  }

  /** The heartbeat interval the server will use; silence of several intervals means the link is dead. */
  expectPingsEvery(ms: number): void {
    this.#expectedPingMs = Math.max(HEARTBEAT_DEFAULTS.minHeartbeatMs, ms);
  }

  /** Closes for good. Sends nothing; callers say `bye` first when they want a clean close. */
  close(code: number = CloseCode.NORMAL, reason = "client closed"): void {
    const state = this.#state;
    this.#state = { state: "closed" };
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
    if (this.#state.state !== "open" && this.#state.state !== "connecting") return;
    const socket = this.#state.socket;
    detach(socket);
    try {
      socket.close(4000, reason);
    } catch {
      // As above.
    }
    this.#lost(1006, reason, undefined);
  }

  #dial(attempt: number, first?: { resolve: () => void; reject: (error: Error) => void }): void {
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (error) {
      if (first) first.reject(error instanceof Error ? error : new Error(String(error)));
      else this.#lost(1006, "could not open a socket", attempt);
      return;
    }
    socket.binaryType = "arraybuffer";
    this.#state = { state: "connecting", attempt, socket };
    let welcomed = false;
    socket.onopen = () => {
      socket.send(encode(this.events.hello()));
    };
    socket.onmessage = (event) => {
      const frame = toBytes(event.data);
      this.#lastFrameAt = this.clock.now();
      const decoded = frame ? decodeServerMessage(frame) : undefined;
      if (!decoded?.ok) {
        this.drop(`unreadable frame from server: ${decoded && !decoded.ok ? decoded.error : "not binary"}`);
        return;
      }
      const message = decoded.message;
      if (!welcomed) {
        if (message.type !== "welcome") {
          // An error before the welcome (unsupported version, refused credential) explains the close that follows.
          if (message.type === "error") first?.reject(new Error(`${message.code}: ${message.message}`));
          return;
        }
        welcomed = true;
        this.#state = { state: "open", socket, openedAt: this.clock.now(), silenceTimer: null };
        this.expectPingsEvery(message.heartbeat);
        this.#watchSilence();
        this.events.welcomed(message);
        first?.resolve();
        first = undefined;
        return;
      }
      // The owner sees the ping first, so that the pong's recorded send time is never later than the real one.
      this.events.message(message);
      if (message.type === "ping" && socket.readyState === OPEN) socket.send(encode({ op: "pong", seq: message.seq }));
    };
    socket.onclose = (event) => {
      detach(socket);
      if (first) {
        first.reject(new Error(`could not connect to ${this.url}: closed with ${event.code} ${event.reason}`.trim()));
        this.#state = { state: "closed" };
        return;
      }
      this.#lost(event.code, event.reason, welcomed ? undefined : attempt);
    };
    socket.onerror = () => {
      // Always followed by onclose, which decides what happens next.
    };
  }

  /** The socket is gone: tell the owner, then wait and redial unless the close was final. */
  #lost(code: number, reason: string, failedAttempt: number | undefined): void {
    const state = this.#state;
    if (state.state === "closed" || state.state === "waiting") return;
    if (state.state === "open") state.silenceTimer?.cancel();
    const final = !this.reconnect || code === CloseCode.NORMAL || code === CloseCode.UNSUPPORTED_VERSION || code === CloseCode.UNAUTHENTICATED;
    let attempt = failedAttempt === undefined ? 0 : failedAttempt + 1;
    if (state.state === "open" && this.clock.now() - state.openedAt < STABLE_AFTER_MS) attempt = Math.max(attempt, 1);
    if (final) {
      this.#state = { state: "closed" };
      this.events.down(code, reason, true);
      return;
    }
    const timer = this.clock.setTimer(fullJitterDelay(attempt), () => this.#dial(attempt));
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
  socket.onerror = null;
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data) && data.every((part) => part instanceof Uint8Array)) {
    // ws delivers fragmented messages as a list of buffers when binaryType is "fragments".
    const total = data.reduce((sum: number, part: Uint8Array) => sum + part.length, 0);
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const part of data as Uint8Array[]) {
      joined.set(part, offset);
      offset += part.length;
    }
    return joined;
  }
  return undefined;
}
