import { createRequire } from "node:module";
import { Writable } from "node:stream";

/** What a socket's frames are handed to: the same entry point ws's 'message' event reaches. */
export type FrameHandler = (data: Buffer, isBinary: boolean) => void;

/**
 * Reads a client's common frames without ws's Receiver. ws hands every chunk read from the socket to
 * its Receiver, a `Writable` of its own: `write`, `_write`, `startLoop`, `getInfo`, `getMask`, `getData`
 * (a view allocated for each of the frame's three parts), `dataMessage`, then two `emit`s up to the
 * connection's listener, and a `nextTick` per chunk for the `Writable`'s callback. That was 7-10 % of the
 * server's busy CPU per lock pair and per put or get (BENCHMARKS.md, "Reading frames (round 7)").
 *
 * Here the chunk is read first: while the Receiver holds nothing (no partial frame, no fragment, no
 * deferred message, nothing queued in its `Writable`), each whole frame at the head of the chunk that is
 * final, binary, masked, without RSV bits, with a payload of 1 to 65,535 bytes within ws's maxPayload,
 * is unmasked in place and handed to `onFrame` at once, as ws would have emitted it (the payload is a
 * view of the chunk, as ws's is). The first frame that is anything else (a control frame, text, a
 * fragment, an empty, long or oversized payload, a bad header, a frame cut by the chunk's end) and every
 * byte after it go to ws's Receiver as they would have, in order, so that everything but this common
 * case, errors and their close codes included, is ws's own doing.
 *
 * The turn budget (turn-budget.ts) paces a flood through the Receiver's `_allowSynchronousEvents`:
 * once it is off, the rest of the chunk goes to ws, which defers its next message to the next turn
 * exactly as before. Back-pressure, pausing and close handling are ws's: the reader stands in for the
 * Receiver's `write` (an own property of the socket's Receiver), which ws's socket listener calls for
 * every chunk, so ws's removal of that listener (after a close frame or an error) stops the reader too.
 *
 * It rests on ws internals (`_receiver` and the fields `isIdle` reads): ws-internals.socket.test.ts fails
 * loudly if an upgrade changes them, and the server then leaves ws's path as it is (`false` returned).
 */
export function readFramesDirectly(socket: object, onFrame: FrameHandler): boolean {
  const receiver = (socket as { _receiver?: unknown })._receiver;
  // ws's 'message' would reach every listener: read here, a frame reaches only `onFrame`, which must be the only one.
  if (!hasExpectedShape(receiver) || (socket as { listenerCount?(event: string): number }).listenerCount?.("message") !== 1) return false;
  receiver[HANDLER] = onFrame;
  receiver.write = readChunk;
  return true;
}

/**
 * True while the frame being handled is the last of the chunk the reader read from `socket`: what is
 * sent to `socket` now is all its read will be answered with (nothing follows in the chunk, and a
 * socket's next chunk comes in a callback of its own), so a reply need not wait in a batch for others
 * (write-batch.ts): the batch of one it would make is the same single write, a cork, a `nextTick` and
 * an uncork later. False for every frame ws's Receiver emits, and outside the handling of a frame.
 */
export function isLastFrameOfRead(socket: object): boolean {
  return lastOfRead !== undefined && lastOfRead === (socket as { _receiver?: unknown })._receiver;
}

/** The Receiver whose chunk's last frame is being handled now (see isLastFrameOfRead). */
let lastOfRead: ReceiverInternals | undefined;

/** What the reader reads and writes of ws's Receiver (ws/lib/receiver.js, 8.x). */
interface ReceiverInternals {
  /** The Writable's `write`, which the reader stands in for; ws's socket listener calls it per chunk. */
  write(chunk: Buffer): boolean;
  /** 0 (GET_INFO): between frames. */
  _state: number;
  /** Bytes of a frame not yet complete. */
  _bufferedBytes: number;
  /** The opcode of a fragmented message being read, 0 if none. */
  _fragmented: number;
  /** Set by the turn budget: off, ws defers the next message to the next turn. */
  _allowSynchronousEvents: boolean;
  /** 0 for no bound. */
  _maxPayload: number;
  _binaryType: string;
  _errored: boolean;
  /** The last frame's opcode: 8 after a close frame, from which on ws ignores what it is given. */
  _opcode: number;
  _writableState: { length: number; ending: boolean; destroyed: boolean };
  [HANDLER]?: FrameHandler;
}

const HANDLER = Symbol("leasehold.frameHandler");
const GET_INFO = 0;
const CLOSE = 0x08;
/** FIN, no RSV bits, opcode 2 (binary): the first byte of every frame the reader reads itself. */
const FINAL_BINARY = 0x82;
const MASKED = 0x80;

function hasExpectedShape(receiver: unknown): receiver is ReceiverInternals {
  if (typeof receiver !== "object" || receiver === null) return false;
  const r = receiver as Partial<Record<keyof ReceiverInternals, unknown>>;
  return (
    r.write === Writable.prototype.write &&
    r._state === GET_INFO &&
    typeof r._bufferedBytes === "number" &&
    typeof r._fragmented === "number" &&
    typeof r._allowSynchronousEvents === "boolean" &&
    typeof r._maxPayload === "number" &&
    r._binaryType === "nodebuffer" &&
    r._errored === false &&
    typeof r._opcode === "number" &&
    typeof r._writableState === "object" &&
    r._writableState !== null &&
    typeof (r._writableState as { length?: unknown }).length === "number"
  );
}

/** The Receiver holds nothing: a frame at the head of a new chunk is a new frame of its own. */
function isIdle(receiver: ReceiverInternals): boolean {
  const writable = receiver._writableState;
  return receiver._state === GET_INFO && receiver._bufferedBytes === 0 && receiver._binaryType === "nodebuffer" && receiver._fragmented === 0 && !receiver._errored && receiver._opcode !== CLOSE && writable.length === 0 && !writable.ending && !writable.destroyed;
}

/**
 * The reader handing frames out now, and the chunks given to it meanwhile. None are expected (a socket's
 * reads are not nested in its handler's calls), but a chunk that came then would come after the frames
 * before it, not before them.
 */
let reading: ReceiverInternals | undefined;
let nested: Buffer[] = [];

/** The Receiver's `write`, as the reader: `this` is the Receiver. Returns false to pause the socket, as ws does. */
function readChunk(this: ReceiverInternals, chunk: Buffer): boolean {
  if (reading === this) {
    nested.push(chunk);
    return true;
  }
  const outer = reading;
  const outerNested = nested;
  reading = this;
  nested = [];
  try {
    let more = readOne(this, chunk);
    for (let index = 0; index < nested.length; index++) more = readOne(this, nested[index] as Buffer);
    return more;
  } finally {
    reading = outer;
    nested = outerNested;
  }
}

/**
 * Hands out the chunk's leading common frames, then gives the rest to ws. When the Receiver is idle,
 * ws has emitted everything it was given before (it holds no bytes, no deferred message), so that a
 * frame read here is never ahead of one given to ws.
 */
function readOne(receiver: ReceiverInternals, chunk: Buffer): boolean {
  if (!isIdle(receiver)) return WRITE.call(receiver, chunk);
  const onFrame = receiver[HANDLER] as FrameHandler;
  const end = chunk.length;
  let offset = 0;
  while (offset < end && receiver._allowSynchronousEvents) {
    const start = commonPayloadStart(chunk, offset, receiver._maxPayload);
    if (start === 0) break;
    offset = start + payloadLength;
    const payload = new FastBuffer(chunk.buffer, chunk.byteOffset + start, payloadLength);
    unmask(payload, chunk, start - 4);
    lastOfRead = offset === end ? receiver : undefined;
    try {
      onFrame(payload, true);
    } finally {
      lastOfRead = undefined;
    }
  }
  if (offset === end) return true;
  return WRITE.call(receiver, offset === 0 ? chunk : chunk.subarray(offset));
}

/** The payload length of the frame `commonPayloadStart` last found (one number more to return, without an object per frame). */
let payloadLength = 0;

/**
 * Where the payload of the common frame at `offset` starts (after its 6 or 8-byte header, the mask key
 * last), or 0 when the frame there is not one the reader reads itself (see readFramesDirectly) or is not
 * whole in the chunk.
 */
function commonPayloadStart(chunk: Buffer, offset: number, maxPayload: number): number {
  if (offset + 2 > chunk.length || chunk[offset] !== FINAL_BINARY) return 0;
  const second = chunk[offset + 1] as number;
  if ((second & MASKED) === 0) return 0;
  const short = second & 0x7f;
  if (short === 0 || short === 127) return 0;
  let start: number;
  if (short < 126) {
    payloadLength = short;
    start = offset + 6;
  } else {
    if (offset + 4 > chunk.length) return 0;
    payloadLength = chunk.readUInt16BE(offset + 2);
    start = offset + 8;
  }
  if (maxPayload > 0 && payloadLength > maxPayload) return 0;
  return start + payloadLength > chunk.length ? 0 : start;
}

/**
 * Node's Buffer class (`Buffer[Symbol.species]`), as ws makes its views: `new FastBuffer(arrayBuffer,
 * offset, length)` costs less than `subarray`, which finds the class through the species lookup.
 */
const FastBuffer = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species] as new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer;

/** The Writable's `write`, which ws's Receiver inherits: what it is given, ws parses as before. */
const WRITE = Writable.prototype.write as (this: ReceiverInternals, chunk: Buffer) => boolean;

/**
 * Unmasks `payload` in place with the 4-byte key at `keyOffset` of `chunk`, as ws does: in JS below 32
 * bytes, with bufferutil (ws's own native helper, a dependency of the server) from there, where a byte
 * loop costs more than the call (64 bytes: 220 ns in JS, 100 ns native; BENCHMARKS.md, first round).
 */
function unmask(payload: Buffer, chunk: Buffer, keyOffset: number): void {
  const k0 = chunk[keyOffset] as number;
  const k1 = chunk[keyOffset + 1] as number;
  const k2 = chunk[keyOffset + 2] as number;
  const k3 = chunk[keyOffset + 3] as number;
  if ((k0 | k1 | k2 | k3) === 0) return;
  const length = payload.length;
  if (length >= NATIVE_FROM && nativeUnmask !== undefined) {
    KEY[0] = k0;
    KEY[1] = k1;
    KEY[2] = k2;
    KEY[3] = k3;
    return nativeUnmask(payload, KEY);
  }
  let index = 0;
  for (; index + 4 <= length; index += 4) {
    payload[index] = (payload[index] as number) ^ k0;
    payload[index + 1] = (payload[index + 1] as number) ^ k1;
    payload[index + 2] = (payload[index + 2] as number) ^ k2;
    payload[index + 3] = (payload[index + 3] as number) ^ k3;
  }
  // At most three bytes are left, at key positions 0, 1 and 2.
  if (index < length) payload[index] = (payload[index] as number) ^ k0;
  if (index + 1 < length) payload[index + 1] = (payload[index + 1] as number) ^ k1;
  if (index + 2 < length) payload[index + 2] = (payload[index + 2] as number) ^ k2;
}

const NATIVE_FROM = 32;
/** The mask key handed to bufferutil: one buffer, filled per frame, rather than a view of the chunk made for each. */
const KEY = Buffer.alloc(4);
const nativeUnmask = loadNativeUnmask();

function loadNativeUnmask(): ((buffer: Buffer, mask: Buffer) => void) | undefined {
  try {
    return (createRequire(import.meta.url)("bufferutil") as { unmask(buffer: Buffer, mask: Buffer): void }).unmask;
  } catch {
    return undefined; // an optional native module: ws then unmasks in JS too
  }
}
