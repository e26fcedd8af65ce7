/**
 * Reading the common frames of a Node `ws` socket without ws's Receiver: the server's reader of its
 * clients' frames (server/src/connection/frame-reader.ts, "Reading frames (round 7)") and the client's of
 * the server's (client/src/frame-reader.ts, "The client's CPU per request (round 10)") share this; each side
 * says which frames it reads (masked: a client's; unmasked: a server's) and what it does with a payload.
 *
 * ws hands every chunk read from the socket to its Receiver, a `Writable` of its own (`write`, `_write`,
 * `startLoop`, `getInfo`, a view per part of the frame, `dataMessage`, two `emit`s and a `nextTick` per
 * chunk for the `Writable`'s callback). The reader stands in for the Receiver's `write` (an own property
 * of the socket's Receiver), which ws's socket listener calls for every chunk. While the Receiver holds
 * nothing (between frames, no bytes, no fragment, no deferred message, nothing queued in its `Writable`),
 * each whole frame at the head of the chunk that is final, binary, masked as the side expects, without
 * RSV bits, with 1 to 65,535 bytes of payload within maxPayload, is handed to the side at once as a view
 * of the chunk (as ws's payload is). The first frame that is anything else (a control frame, text, a
 * fragment, an empty, long or oversized payload, a bad header, a frame cut by the chunk's end) and every
 * byte after it go to ws's Receiver as they would have, in order, so that everything but the common case,
 * errors and their close codes included, is ws's own doing; so is ws's removal of its socket listener
 * after a close frame or an error, which stops the reader too. `_allowSynchronousEvents = false` (the
 * server's turn budget) hands the rest of the chunk to ws, which defers it to the next turn as before.
 *
 * Node only, with no Node import: in a browser there is no `_receiver`, and nothing is installed.
 */

/** What a reader reads and writes of ws's Receiver (ws/lib/receiver.js, 8.x). */
export interface WsReceiver {
  /** The Writable's `write` (inherited), which a reader stands in for as an own property. */
  write(chunk: Uint8Array): boolean;
  /** 0 (GET_INFO): between frames. */
  _state: number;
  /** Bytes of a frame not yet complete. */
  _bufferedBytes: number;
  /** The opcode of a fragmented message being read, 0 if none. */
  _fragmented: number;
  /** Off, ws emits each message in a turn of its own: the rest of the chunk goes to ws. */
  _allowSynchronousEvents: boolean;
  /** 0 for no bound. */
  _maxPayload: number;
  _binaryType: string;
  _errored: boolean;
  /** A server's Receiver (true) reads masked frames, a client's (false) unmasked ones. */
  _isServer: boolean;
  /** The last frame's opcode: 8 after a close frame, from which on ws ignores what it is given. */
  _opcode: number;
  _writableState: { length: number; ending: boolean; destroyed: boolean };
}

/** One side's reading: which frames, and what is done with each payload. */
export interface FrameReaderSide<Handler> {
  /** True for a server reading its clients' frames (masked, the key before the payload), false for a client reading a server's. */
  readonly masked: boolean;
  /**
   * Hands the payload of a frame read (a view of `chunk` from `start`) to `handler`. `last`: nothing
   * follows the frame in the chunk.
   */
  deliver(handler: Handler, receiver: WsReceiver, payload: Uint8Array, chunk: Uint8Array, start: number, last: boolean): void;
}

/** A side's reader: installed on a socket's Receiver with `readDirectly`. */
export interface FrameReader<Handler> {
  readonly masked: boolean;
  readonly write: (this: WsReceiver, chunk: Uint8Array) => boolean;
  /** The side, for `readOne`. */
  readonly side: FrameReaderSide<Handler>;
}

export function frameReader<Handler>(side: FrameReaderSide<Handler>): FrameReader<Handler> {
  const reader: FrameReader<Handler> = {
    masked: side.masked,
    side,
    write(this: WsReceiver, chunk: Uint8Array): boolean {
      return readChunk(this as Installed<Handler>, chunk, reader);
    },
  };
  return reader;
}

/**
 * The socket's ws Receiver when it is as the readers expect and idle (a socket just opened), else
 * undefined: its `write` the inherited one, its fields of the expected types, of the side `masked` says.
 */
export function wsReceiverOf(socket: object, masked: boolean): WsReceiver | undefined {
  const receiver = (socket as { _receiver?: unknown })._receiver;
  if (typeof receiver !== "object" || receiver === null) return undefined;
  const r = receiver as Partial<Record<keyof WsReceiver, unknown>>;
  const expected =
    typeof r.write === "function" &&
    !Object.hasOwn(r, "write") &&
    !Object.hasOwn(Object.getPrototypeOf(r) as object, "write") &&
    r._state === GET_INFO &&
    r._isServer === masked &&
    typeof r._bufferedBytes === "number" &&
    typeof r._fragmented === "number" &&
    typeof r._allowSynchronousEvents === "boolean" &&
    typeof r._maxPayload === "number" &&
    r._binaryType === "nodebuffer" &&
    r._errored === false &&
    typeof r._opcode === "number" &&
    typeof r._writableState === "object" &&
    r._writableState !== null &&
    typeof (r._writableState as { length?: unknown }).length === "number";
  return expected && FastBuffer !== undefined ? (receiver as WsReceiver) : undefined;
}

/** From now on the Receiver's chunks go through `reader`, its common frames to `handler`. */
export function readDirectly<Handler>(receiver: WsReceiver, reader: FrameReader<Handler>, handler: Handler): void {
  (receiver as Installed<Handler>)[HANDLER] = handler;
  receiver.write = reader.write;
}

/** Gives the Receiver back to ws: no frame reaches the handler after this, also none of a chunk being read now. */
export function stopReadingDirectly(receiver: object): void {
  const installed = receiver as Partial<Installed<unknown>>;
  if (installed[HANDLER] === undefined) return;
  installed[HANDLER] = undefined;
  delete installed.write;
}

const HANDLER = Symbol("leasehold.frameHandler");
type Installed<Handler> = WsReceiver & { [HANDLER]?: Handler | undefined };

const GET_INFO = 0;
const CLOSE = 0x08;
/** FIN, no RSV bits, opcode 2 (binary): the first byte of every frame a reader reads itself. */
const FINAL_BINARY = 0x82;
const MASK_BIT = 0x80;

/**
 * Node's Buffer class (`Buffer[Symbol.species]`), as ws makes its views: `new FastBuffer(arrayBuffer,
 * offset, length)` costs less than `subarray`, which finds the class through the species lookup.
 * Undefined in a browser, where no reader is installed.
 */
const FastBuffer = (globalThis as unknown as { Buffer?: Record<symbol, unknown> }).Buffer?.[Symbol.species] as (new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Uint8Array) | undefined;

/** The Receiver holds nothing: a frame at the head of a new chunk is a new frame of its own. */
function isIdle(receiver: WsReceiver): boolean {
  const writable = receiver._writableState;
  return receiver._state === GET_INFO && receiver._bufferedBytes === 0 && receiver._binaryType === "nodebuffer" && receiver._fragmented === 0 && !receiver._errored && receiver._opcode !== CLOSE && writable.length === 0 && !writable.ending && !writable.destroyed;
}

/**
 * The Receiver a reader hands frames out of now, and the chunks given to it meanwhile. None are expected
 * (a socket's reads are not nested in its handler's calls), but a chunk that came then would come after
 * the frames before it, not before them.
 */
let reading: WsReceiver | undefined;
let nested: Uint8Array[] = [];

/** The Receiver's `write`, as the reader. Returns false to pause the socket, as ws does. */
function readChunk<Handler>(receiver: Installed<Handler>, chunk: Uint8Array, reader: FrameReader<Handler>): boolean {
  if (reading === receiver) {
    nested.push(chunk);
    return true;
  }
  const outer = reading;
  const outerNested = nested;
  reading = receiver;
  nested = [];
  try {
    let more = readOne(receiver, chunk, reader.side);
    for (let index = 0; index < nested.length; index++) more = readOne(receiver, nested[index] as Uint8Array, reader.side);
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
function readOne<Handler>(receiver: Installed<Handler>, chunk: Uint8Array, side: FrameReaderSide<Handler>): boolean {
  const write = (Object.getPrototypeOf(receiver) as WsReceiver).write;
  if (!isIdle(receiver)) return write.call(receiver, chunk);
  const end = chunk.length;
  let offset = 0;
  while (offset < end && receiver._allowSynchronousEvents) {
    const handler = receiver[HANDLER];
    if (handler === undefined) break;
    const start = commonPayloadStart(chunk, offset, receiver._maxPayload, side.masked);
    if (start === 0) break;
    offset = start + payloadLength;
    const payload = new (FastBuffer as NonNullable<typeof FastBuffer>)(chunk.buffer, chunk.byteOffset + start, payloadLength);
    side.deliver(handler, receiver, payload, chunk, start, offset === end);
  }
  if (offset === end) return true;
  return write.call(receiver, offset === 0 ? chunk : chunk.subarray(offset));
}

/** The payload length of the frame `commonPayloadStart` last found (one number more to return, without an object per frame). */
let payloadLength = 0;

/**
 * Where the payload of the common frame at `offset` starts (after its header: 2 or 4 bytes, then the
 * 4-byte mask key when `masked`), or 0 when the frame there is not one a reader reads itself or is not
 * whole in the chunk.
 */
function commonPayloadStart(chunk: Uint8Array, offset: number, maxPayload: number, masked: boolean): number {
  if (offset + 2 > chunk.length || chunk[offset] !== FINAL_BINARY) return 0;
  const second = chunk[offset + 1] as number;
  if ((second & MASK_BIT) !== (masked ? MASK_BIT : 0)) return 0;
  const short = second & 0x7f;
  if (short === 0 || short === 127) return 0;
  let start: number;
  if (short < 126) {
    payloadLength = short;
    start = offset + 2;
  } else {
    if (offset + 4 > chunk.length) return 0;
    payloadLength = ((chunk[offset + 2] as number) << 8) | (chunk[offset + 3] as number);
    if (payloadLength === 0) return 0;
    start = offset + 4;
  }
  if (masked) start += 4;
  if (maxPayload > 0 && payloadLength > maxPayload) return 0;
  return start + payloadLength > chunk.length ? 0 : start;
}
