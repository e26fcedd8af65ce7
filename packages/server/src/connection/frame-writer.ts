import { encode, encodeReplyTransient, encodeTransient, type ServerMessage } from "@leasehold/protocol";
import type { PeerSocket, Wire } from "./peer-socket.js";

/**
 * Sends one binary message to a peer as one buffer: the WebSocket frame's header and the payload
 * together, written to the stream under the socket. ws writes a frame as two buffers (header, then
 * payload), corked, so every reply left by Node's `writev` path (an array of chunks, a write request
 * and a callback per chunk); one buffer takes the plain `write` path. Server frames are not masked,
 * so the frame is the header and the payload as they are.
 *
 * Only when ws's sender is idle: no compression was negotiated (the server never offers it) and
 * nothing is queued in it (it queues only while compressing or reading a Blob, which leasehold never
 * sends), so that this write takes exactly the place ws's own would have. ws counts the stream's
 * buffered bytes in `bufferedAmount`, so the slow-consumer rule sees these writes. Anything else (a
 * gateway's link stream, a ws whose internals are not as expected) goes through `socket.send`.
 * `ws-internals.socket.test.ts` checks the internals this reads.
 *
 * Measured: see BENCHMARKS.md, "Where the time goes", fourth round.
 */
export function sendBinary(socket: PeerSocket, raw: Wire, payload: Uint8Array): void {
  const stream = directStream(socket, raw);
  if (stream === undefined) socket.send(payload);
  else stream.write(frameOf(payload));
}

/**
 * As `sendBinary`, for a message not encoded yet: encoded straight into its frame when the frame goes
 * to the stream (the encoder's transient bytes, copied into the frame at once, rather than first into an
 * ArrayBuffer of their own and then into the frame); through ws, encoded into bytes of its own, which
 * ws may hold on to. Measured: see BENCHMARKS.md, "Where the time goes", "Server CPU per request (round 8)".
 * A reply's envelope (`Session.reply` makes every one, keys in the schema's order) is copied in as bytes
 * rather than walked: see BENCHMARKS.md, "The server's path per lock pair (round 12)".
 */
export function sendMessage(socket: PeerSocket, raw: Wire, message: ServerMessage): void {
  const stream = directStream(socket, raw);
  if (stream === undefined) socket.send(encode(message));
  else stream.write(frameOf(message.type === "reply" ? encodeReplyTransient(message.id, message.result) : encodeTransient(message)));
}

/**
 * The stream under `socket` when a whole frame written to it takes exactly the place of ws's own
 * write of the same message (ws's sender idle, as above); undefined when the message must go through ws.
 */
export function directStream(socket: PeerSocket, raw: Wire): SenderInternals["_socket"] | undefined {
  const sender = (socket as { _sender?: SenderInternals })._sender;
  if (sender?._state !== IDLE || sender._queue.length !== 0 || sender._socket !== (raw as unknown) || hasExtensions(socket)) return undefined;
  return sender._socket;
}

/** What this module reads of ws's `Sender` (ws/lib/sender.js). */
export interface SenderInternals {
  /** 0 (DEFAULT): not compressing and not reading a Blob, so a message sent now is written now. */
  _state: number;
  /** Messages waiting for the sender's state to return to DEFAULT. */
  _queue: unknown[];
  /** The stream ws writes to: the connection's `raw`, corked by the write batch. */
  _socket: { write(chunk: Uint8Array): unknown };
}

const IDLE = 0;

/** ws's negotiated extensions (permessage-deflate is the only one it knows); none when the server offers none. */
function hasExtensions(socket: PeerSocket): boolean {
  const extensions = (socket as { _extensions?: object })._extensions;
  if (extensions === undefined) return true;
  for (const name in extensions) if (Object.hasOwn(extensions, name)) return true;
  return false;
}

/** A final binary frame (FIN, opcode 2), unmasked: a 2, 4 or 10-byte header (RFC 6455 §5.2), then the payload. */
export function frameOf(payload: Uint8Array): Buffer {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x82;
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  frame.set(payload, header);
  return frame;
}
