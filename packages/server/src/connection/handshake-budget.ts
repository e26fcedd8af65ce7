import { CloseCode } from "@leasehold/protocol";
import type { PeerSocket, Wire } from "./peer-socket.js";
import { cutOff } from "./cut-off.js";

/** What a connection may send before its `hello` is answered (see ServerOptions). */
export interface HandshakeLimits {
  /** Bytes on the wire, WebSocket framing included. */
  readonly maxHandshakeBytes: number;
  /** WebSocket frames, fragments included (the hello, and frames held while a JWT is verified). */
  readonly maxHandshakeFrames: number;
}

/**
 * Bounds the bytes and fragments a WebSocket may send before its handshake completes. ws has no such
 * option: its maxPayload bounds a message's payload, not the fragments it arrives in, and a message
 * of 16,000 one-byte fragments (112 KB sent) held about 2 MB until the handshake deadline; 400 such
 * connections took a server from 73 MB to 807 MB. So until then the raw socket's reads reach ws's
 * parser through a gate that counts their bytes and the fragments ws holds: a read that would pass
 * either bound is never parsed (a 64 KiB read of one-byte fragments would cost ws about 1 MB on its
 * own), the peer is told 1009 and its socket destroyed at once, which frees what ws held. Whole
 * frames are counted by the connection itself (`tooManyHandshakeFrames`). Returns the function that
 * lifts the bound, called once the handshake has completed.
 */
export function boundHandshake(raw: Wire, ws: PeerSocket, limits: HandshakeLimits): () => void {
  // ws's own reader of the socket, which the gate stands in for until it is lifted.
  const readers = raw.listeners("data") as ((chunk: Buffer) => void)[];
  let bytes = 0;
  let lifted = false;
  const gate = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes > limits.maxHandshakeBytes || heldFragments(ws) >= limits.maxHandshakeFrames) {
      lift();
      cutOff(ws, raw, CloseCode.MESSAGE_TOO_BIG, `more than ${limits.maxHandshakeBytes} bytes or ${limits.maxHandshakeFrames} frames before the handshake completed`);
      return;
    }
    for (const reader of readers) reader.call(raw, chunk);
  };
  const lift = (): void => {
    if (lifted) return;
    lifted = true;
    raw.removeListener("data", gate);
    for (const reader of readers) raw.on("data", reader);
  };
  for (const reader of readers) raw.removeListener("data", reader);
  raw.on("data", gate);
  return lift;
}

/** Whether a connection still in its handshake has sent more whole frames than it may. */
export function tooManyHandshakeFrames(frames: number, limits: HandshakeLimits): boolean {
  return frames > limits.maxHandshakeFrames;
}

/**
 * The fragments ws holds of the message it is reading. A ws internal (`_receiver._fragments`): if a
 * future ws renames it, the byte bound still holds, which allows at most one fragment per 7 bytes.
 */
function heldFragments(ws: PeerSocket): number {
  const receiver = (ws as unknown as { _receiver?: { _fragments?: unknown } })._receiver;
  return Array.isArray(receiver?._fragments) ? receiver._fragments.length : 0;
}
