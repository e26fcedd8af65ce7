import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { frameReader, readDirectly, wsReceiverOf, type WsReceiver } from "@leasehold/protocol";

/** What a socket's frames are handed to: the same entry point ws's 'message' event reaches. */
export type FrameHandler = (data: Buffer, isBinary: boolean) => void;

/**
 * Reads a client's common frames without ws's Receiver (protocol/src/ws-frame-reader.ts, shared with the
 * client's reader of the server's frames). ws's reading of each frame (its Receiver's `Writable` and
 * parser, a view per part of the frame, two `emit`s, a `nextTick` per chunk) was 7-10 % of the server's
 * busy CPU per lock pair and per put or get (BENCHMARKS.md, "Reading frames (round 7)").
 *
 * Here each whole frame at the head of a chunk that is final, binary, masked, without RSV bits, with a
 * payload of 1 to 65,535 bytes within ws's maxPayload, read while the Receiver holds nothing, is unmasked
 * in place and handed to `onFrame` at once, as ws would have emitted it; everything else goes to ws as
 * before, in order, errors and their close codes included.
 *
 * The turn budget (turn-budget.ts) paces a flood through the Receiver's `_allowSynchronousEvents`:
 * once it is off, the rest of the chunk goes to ws, which defers its next message to the next turn
 * exactly as before. Back-pressure, pausing and close handling are ws's.
 *
 * It rests on ws internals (`_receiver` and the fields the shared reader reads): ws-internals.socket.test.ts
 * fails loudly if an upgrade changes them, and the server then leaves ws's path as it is (`false` returned).
 */
export function readFramesDirectly(socket: object, onFrame: FrameHandler): boolean {
  const receiver = wsReceiverOf(socket, true);
  // ws's 'message' would reach every listener: read here, a frame reaches only `onFrame`, which must be the only one.
  if (receiver === undefined || receiver.write !== Writable.prototype.write || (socket as { listenerCount?(event: string): number }).listenerCount?.("message") !== 1) return false;
  readDirectly(receiver, CLIENT_FRAMES, onFrame);
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
let lastOfRead: WsReceiver | undefined;

/** A client's frames: masked, unmasked in place before the connection gets them. */
const CLIENT_FRAMES = frameReader<FrameHandler>({
  masked: true,
  deliver(onFrame, receiver, payload, chunk, start, last) {
    unmask(payload as Buffer, chunk as Buffer, start - 4);
    lastOfRead = last ? receiver : undefined;
    try {
      onFrame(payload as Buffer, true);
    } finally {
      lastOfRead = undefined;
    }
  },
});

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
