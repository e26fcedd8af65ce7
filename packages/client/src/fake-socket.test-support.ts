import { DEFAULT_LIMITS, PROTOCOL_VERSION, decode, encode, type ServerMessage, type Welcome } from "@leasehold/protocol";
import type { WebSocketLike } from "./transport.js";

/**
 * A WebSocket whose server side the test plays by hand: `open()`, `welcome()`, `receive()`,
 * `serverClose()`. Every socket made is kept, in order, in `sockets`, with the URL it was made for.
 */
export class FakeSocket implements WebSocketLike {
  static readonly sockets: FakeSocket[] = [];
  binaryType = "nodebuffer";
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** What the client sent, decoded. */
  readonly sent: Record<string, unknown>[] = [];
  /** How the client closed it, if it did. */
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(readonly url: string) {
    FakeSocket.sockets.push(this);
  }

  /** The last socket made; fails the test if there is none. */
  static last(): FakeSocket {
    const socket = FakeSocket.sockets.at(-1);
    if (!socket) throw new Error("no socket was made");
    return socket;
  }

  static reset(): void {
    FakeSocket.sockets.length = 0;
  }

  send(data: Uint8Array): void {
    this.sent.push(decode(data) as Record<string, unknown>);
  }

  close(code?: number, reason?: string): void {
    // As browsers and ws do (RFC 6455 caps the close reason at 123 bytes).
    if (reason !== undefined && new TextEncoder().encode(reason).byteLength > 123) throw new SyntaxError("The close reason must not be greater than 123 UTF-8 bytes");
    this.closedWith ??= { code, reason };
    this.readyState = 3;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(message: ServerMessage): void {
    this.onmessage?.({ data: encode(message) });
  }

  /** Opens (if not yet open) and welcomes the client into `session`. */
  welcome(fields: Partial<Welcome> = {}): void {
    if (this.readyState === 0) this.open();
    this.receive({ type: "welcome", version: PROTOCOL_VERSION, session: "s1", secret: "x", resumed: false, heartbeat: 60_000, limits: DEFAULT_LIMITS, ...fields });
  }

  /** The server (or the network) closes the connection with `code`. */
  serverClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}
