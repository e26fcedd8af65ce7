import { deliverReadsDirectly, frameReader, readDirectly, stopReadingDirectly, wsReceiverOf } from "@leasehold/protocol";

/** What a socket's frames are handed to: the function the socket's `onmessage` passes `event.data` to. */
export type FrameHandler = (data: Uint8Array) => void;

/**
 * Reads the server's common frames on Node's `ws` without ws's Receiver and its `MessageEvent`, as the
 * server reads its clients' (protocol/src/ws-frame-reader.ts, shared with the server's frame-reader.ts):
 * each whole frame at the head of a read that is final, binary, unmasked (a server's), without RSV bits,
 * with a payload of 1 to 65,535 bytes, read while ws's Receiver holds nothing, goes to `onFrame` at once
 * as a view of the read (as ws's payload is); the first frame that is anything else (a ping, a close, a
 * fragment, a compressed or a larger frame, one cut by the read's end) and everything after it in the read
 * go to ws as before, in order. A reply read this way cost 100-130 ns of CPU against 240-400 ns through
 * ws (bench/src/frame-read-loop.ts --side=client, BENCHMARKS.md "The client's CPU per request (round 10)").
 *
 * Call it once the socket is open (ws makes its Receiver then), with `onmessage` set to hand `event.data`
 * to the same `onFrame`, the socket's only 'message' listener. Node only: a browser's WebSocket (or a
 * fake) has no `_receiver`, and this returns false, changing nothing. It rests on ws internals;
 * frame-reader.socket.test.ts fails loudly if an upgrade of ws changes them, and nothing is installed then.
 *
 * The TCP or TLS socket under ws then hands each read to ws's listener without the `Readable`'s push and
 * its tick, when that is all push would do (protocol/src/read-shortcut.ts, as the server does): with one
 * request in flight every reply is a read, a wake-up and a tick of its own. Measured: BENCHMARKS.md, "The
 * one-client row: per wake-up costs (round 11)".
 */
export function readFramesDirectly(socket: object, onFrame: FrameHandler): boolean {
  const receiver = wsReceiverOf(socket, false);
  if (receiver === undefined || (socket as { listenerCount?(event: string): number }).listenerCount?.("message") !== 1) return false;
  readDirectly(receiver, SERVER_FRAMES, onFrame);
  const stream = (socket as { _socket?: unknown })._socket;
  if (typeof stream === "object" && stream !== null) deliverReadsDirectly(stream);
  return true;
}

/**
 * Gives the socket back to ws's Receiver: after this no frame reaches `onFrame`, also none of a read being
 * handled now (as through ws, which delivers nothing once `onmessage` is null).
 */
export function stopReadingFramesDirectly(socket: object): void {
  const receiver = (socket as { _receiver?: unknown })._receiver;
  if (typeof receiver === "object" && receiver !== null) stopReadingDirectly(receiver);
}

/** A server's frames: unmasked, handed on as they are. */
const SERVER_FRAMES = frameReader<FrameHandler>({
  masked: false,
  deliver(onFrame, _receiver, payload) {
    onFrame(payload);
  },
});
