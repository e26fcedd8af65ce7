import type { WebSocketLike } from "./transport.js";

/**
 * Sends one binary message on an open socket. On Node's `ws`, while its sender is idle, the message
 * leaves as one masked frame written straight to the stream under the socket: `ws.send` builds an
 * options object twice, a Buffer view of the payload, then the frame, before the same one write.
 * Anything else (a browser's WebSocket, a fake, a ws whose `send` a subclass or the instance replaced
 * to watch or change what goes out, ws with compression negotiated or a message queued in its sender,
 * a payload large enough for bufferutil's native masking to pay) goes through `socket.send`.
 *
 * The frame is what ws writes (RFC 6455 §5.2): FIN and opcode 2, the mask bit with a 2, 4 or 10-byte
 * length, a masking key, the payload XORed with it. Masking is required of every client frame (a
 * server closes a connection that sends one unmasked), and the key must be unpredictable: it comes
 * from the platform's CSPRNG (`crypto.getRandomValues`), drawn 8 KiB at a time, as ws draws it with
 * `randomFillSync`. `frame-sender.socket.test.ts` checks the ws internals this reads, and holds the frame
 * to what a ws server reads.
 */
export function sendBinary(socket: WebSocketLike, payload: Uint8Array): void {
  send(socket, payload, false);
}

/**
 * `sendBinary` for a payload valid only until the next encode (a view of the encoder's scratch buffer,
 * `encodeTransient`): the direct path copies it into the frame at once, any other path (ws's `send`, which
 * may compress it later, a browser's) is given a copy of its own. A request's own copy cost more than the
 * rest of its encoding and framing: a kv.put of a 100-byte value, encode and frame 1.03-1.15 µs with it,
 * 0.57-0.60 without (300,000 calls, 4 alternating passes): past 64 bytes a copy is an ArrayBuffer of its
 * own, allocated outside V8's heap and freed by the GC.
 */
export function sendTransient(socket: WebSocketLike, payload: Uint8Array): void {
  send(socket, payload, true);
}

function send(socket: WebSocketLike, payload: Uint8Array, transient: boolean): void {
  const stream = payload.length <= MAX_DIRECT_BYTES ? idleStream(socket) : undefined;
  if (stream !== undefined) stream.write(maskedFrame(payload));
  else socket.send(transient ? payload.slice() : payload);
}

/** A final binary frame (FIN, opcode 2), masked with a fresh key: the bytes a client sends for `payload`. */
export function maskedFrame(payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = allocate(header + 4 + length);
  frame[0] = 0x82;
  if (header === 2) frame[1] = 0x80 | length;
  else if (header === 4) {
    frame[1] = 0x80 | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    frame.fill(0, 2, 6);
    frame[6] = length >>> 24;
    frame[7] = (length >>> 16) & 0xff;
    frame[8] = (length >>> 8) & 0xff;
    frame[9] = length & 0xff;
  }
  if (randomAt === RANDOM_POOL_BYTES) {
    crypto.getRandomValues(randomPool);
    randomAt = 0;
  }
  const k0 = (frame[header] = randomPool[randomAt++]!);
  const k1 = (frame[header + 1] = randomPool[randomAt++]!);
  const k2 = (frame[header + 2] = randomPool[randomAt++]!);
  const k3 = (frame[header + 3] = randomPool[randomAt++]!);
  // Four bytes a turn, each with its key byte in a local: half the time of indexing the key per byte.
  const body = header + 4;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    frame[body + i] = payload[i]! ^ k0;
    frame[body + i + 1] = payload[i + 1]! ^ k1;
    frame[body + i + 2] = payload[i + 2]! ^ k2;
    frame[body + i + 3] = payload[i + 3]! ^ k3;
  }
  for (; i < length; i++) frame[body + i] = payload[i]! ^ frame[header + (i & 3)]!;
  return frame;
}

/** What this module reads of ws's `Sender` (ws/lib/sender.js) and `WebSocket`. */
export interface WsInternals {
  _sender?: {
    /** 0 (DEFAULT): not compressing and not reading a Blob, so a message sent now is written now. */
    _state: number;
    /** Messages waiting for the sender's state to return to DEFAULT. */
    _queue: unknown[];
    /** The stream ws writes to. */
    _socket: { write(chunk: Uint8Array): unknown };
  };
  /** Negotiated extensions (permessage-deflate is the only one ws knows). */
  _extensions?: object;
}

/**
 * Larger payloads go through ws, whose bufferutil masks them natively; below it the loop here costs
 * less than ws's path (and ws masks in JS below 48 bytes itself).
 */
const MAX_DIRECT_BYTES = 1_024;
const RANDOM_POOL_BYTES = 8_192;
const randomPool = new Uint8Array(RANDOM_POOL_BYTES);
let randomAt = RANDOM_POOL_BYTES;
const IDLE = 0;
const OPEN = 1;

/** The stream under a ws socket whose sender is idle and uncompressed: a frame written there takes the place of ws's own write. */
function idleStream(socket: WebSocketLike): { write(chunk: Uint8Array): unknown } | undefined {
  const { _sender: sender, _extensions: extensions } = socket as unknown as WsInternals;
  if (sender === undefined || sender._state !== IDLE || sender._queue.length !== 0 || socket.readyState !== OPEN || extensions === undefined) return undefined;
  for (const name in extensions) if (Object.hasOwn(extensions, name)) return undefined;
  return sendIsWs(socket) ? sender._socket : undefined;
}

/** Whether `socket.send` is ws's own: neither the instance nor a subclass (the bench's, a test's, a user's) replaced it. */
function sendIsWs(socket: WebSocketLike): boolean {
  if (Object.hasOwn(socket, "send")) return false;
  const prototype = Object.getPrototypeOf(socket) as object;
  let plain = plainSendByPrototype.get(prototype);
  if (plain === undefined) {
    // ws's WebSocket is the deepest class in the chain that defines `send` (its base, EventEmitter, has none).
    let deepest: unknown;
    for (let level: object | null = prototype; level !== null; level = Object.getPrototypeOf(level) as object | null) {
      if (Object.hasOwn(level, "send")) deepest = (level as { send: unknown }).send;
    }
    plain = socket.send === deepest;
    plainSendByPrototype.set(prototype, plain);
  }
  return plain;
}

const plainSendByPrototype = new WeakMap<object, boolean>();

/** A Node Buffer where there is one (what a stream's write takes without a copy), else a plain array. */
const allocate: (size: number) => Uint8Array =
  typeof (globalThis as { Buffer?: { allocUnsafe?: unknown } }).Buffer?.allocUnsafe === "function"
    ? (size) => (globalThis as unknown as { Buffer: { allocUnsafe(size: number): Uint8Array } }).Buffer.allocUnsafe(size)
    : (size) => new Uint8Array(size);
