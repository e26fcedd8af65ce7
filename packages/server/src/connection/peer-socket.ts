import type { RawData } from "ws";
import type { ReadableSocket } from "../auth/guard.js";

/**
 * What a connection needs of its peer's WebSocket: a ws socket, or one stream of a gateway's
 * multiplexed link (cluster/link-stream.ts), which the connection serves alike.
 */
export interface PeerSocket extends ReadableSocket {
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSED: 3;
  /** Bytes sent and not yet taken by the peer: the slow-consumer rule's measure. */
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code: number, reason: string): void;
  terminate(): void;
  on(event: "message", listener: (data: RawData, isBinary: boolean) => void): unknown;
  on(event: "close", listener: () => void): unknown;
  on(event: "error", listener: () => void): unknown;
}

/**
 * What a connection needs of the byte stream under its WebSocket: corked to batch a turn's writes
 * (write-batch.ts), its reads gated until the handshake completes (handshake-budget.ts), and ended
 * to stop a peer without reading it (cut-off.ts). A TCP or TLS socket, or a link stream.
 */
export interface Wire {
  readonly writableCorked: number;
  cork(): void;
  uncork(): void;
  end(): void;
  listeners(event: "data"): unknown[];
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  removeListener(event: "data", listener: (chunk: Buffer) => void): unknown;
}
