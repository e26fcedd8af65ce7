import type { RawData } from "ws";
import type { PeerSocket, Wire } from "../connection/peer-socket.js";
import { DROPPED, Kind, encodeClose, encodeData, encodeFlow } from "./link-envelope.js";

/** What a stream needs of its link (leader-link.ts). */
export interface StreamCarrier {
  /** The link's TCP socket, corked to batch a turn's writes of all its streams. */
  readonly raw: Wire;
  send(envelope: Buffer): void;
  /** The stream ended: it is no longer the link's to route envelopes to. */
  ended(stream: LinkStream): void;
}

/**
 * One client connection carried by a follower's multiplexed link, as the leader serves it: a
 * WebSocket to its Connection (connection.ts), which cannot tell it from a direct one.
 *
 * Back-pressure per stream: `bufferedAmount` is what this stream was sent and its follower has not
 * yet acknowledged as written to the client's socket (ACK envelopes). A client that does not read
 * leaves its follower's writes unfinished and its ACKs unsent, so its own count grows until the
 * slow-consumer rule closes it with 4006, while its link and the other streams on it go on; the
 * follower holds at most that backlog for it. Pausing (the rate limit's throttle, a JWT being
 * checked) is passed on as PAUSE and RESUME: the follower stops reading the client. Messages it had
 * already read are delivered, as ws delivers those of a read already made.
 */
export class LinkStream implements PeerSocket, Wire {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 3;
  readyState: 0 | 1 | 3 = 1;
  #unacknowledged = 0;
  #paused = false;
  // One listener each, the Connection's: a stream stores three fields rather than an emitter.
  #onMessage: ((data: RawData, isBinary: boolean) => void) | undefined;
  #onClose: (() => void) | undefined;

  constructor(
    readonly link: StreamCarrier,
    readonly id: number,
    /** The client's address as its follower saw it. */
    readonly ip: string,
    readonly address: string,
  ) {}

  get bufferedAmount(): number {
    return this.#unacknowledged;
  }

  on(event: "message" | "close" | "error" | "data", listener: ((data: RawData, isBinary: boolean) => void) | (() => void) | ((chunk: Buffer) => void)): this {
    if (event === "message") this.#onMessage = listener as (data: RawData, isBinary: boolean) => void;
    else if (event === "close") this.#onClose = listener as () => void;
    // "error": a stream fails only by its link closing, which is a close. "data": see `listeners`.
    return this;
  }

  send(data: Uint8Array): void {
    if (this.readyState !== this.OPEN) return;
    this.#unacknowledged += data.length;
    this.link.send(encodeData(this.id, data));
  }

  close(code: number, reason: string): void {
    this.#end(code, reason);
  }

  /** The client's connection is dropped without a close frame (the follower terminates it). */
  terminate(): void {
    this.#end(DROPPED, "");
  }

  pause(): void {
    if (this.#paused || this.readyState !== this.OPEN) return;
    this.#paused = true;
    this.link.send(encodeFlow(this.id, Kind.PAUSE));
  }

  resume(): void {
    if (!this.#paused || this.readyState !== this.OPEN) return;
    this.#paused = false;
    this.link.send(encodeFlow(this.id, Kind.RESUME));
  }

  // As a Wire: corking batches the link's writes; the stream has no bytes of its own to gate during
  // the handshake (the follower's ws parsed its frames, within its maxPayload; the handshake's frame
  // count still applies), and ending it is closing it (done by then).
  get writableCorked(): number {
    return this.link.raw.writableCorked;
  }

  cork(): void {
    this.link.raw.cork();
  }

  uncork(): void {
    this.link.raw.uncork();
  }

  end(): void {
    this.#end(DROPPED, "");
  }

  listeners(): unknown[] {
    return [];
  }

  removeListener(): this {
    return this;
  }

  /** A message of the client, from its follower. */
  received(data: Buffer, isBinary: boolean): void {
    if (this.readyState === this.OPEN) this.#onMessage?.(data, isBinary);
  }

  /** The follower wrote `bytes` more of this stream's messages to the client. */
  acknowledged(bytes: number): void {
    this.#unacknowledged = Math.max(0, this.#unacknowledged - bytes);
  }

  /** The client closed, or its follower or the link went away: the connection ends (nothing is sent back). */
  closedByPeer(): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    this.link.ended(this);
    this.#onClose?.();
  }

  #end(code: number, reason: string): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    this.link.send(encodeClose(this.id, code, reason));
    this.link.ended(this);
    // ws reports a close later too: the connection's close handler must not run inside its own close().
    queueMicrotask(() => this.#onClose?.());
  }
}
