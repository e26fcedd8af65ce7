import type { CloseCode } from "@leasehold/protocol";
import type { PeerSocket, Wire } from "./peer-socket.js";
import { flushWrites } from "./write-batch.js";

/**
 * Closes and destroys the socket now, for a peer that must cost nothing more: the close frame is
 * written before the socket goes, and what ws held of it is freed at once.
 */
export function cutOff(ws: PeerSocket, raw: Wire, code: CloseCode, reason: string): void {
  if (ws.readyState === ws.OPEN) ws.close(code, reason.slice(0, 120));
  // Replies of this turn still held by the write batch go out before the close frame and the socket's end.
  flushWrites(raw);
  ws.terminate();
}

/**
 * Closes, reads nothing more, and ends the stream (a FIN after the close frame). A flooding peer would
 * otherwise be read, and its frames parsed, until it answers the close; destroyed at once, its unread
 * data would turn the close into a TCP reset that loses the close code and the replies before it (a
 * flooder busy sending did not read them in time). ws destroys the socket if the peer has not closed
 * its side within its close timeout (30 s); paused, the socket costs only its kernel buffers until then.
 */
export function closeWithoutReading(ws: PeerSocket, raw: Wire, code: CloseCode, reason: string): void {
  if (ws.readyState === ws.OPEN) ws.close(code, reason.slice(0, 120));
  ws.pause();
  raw.end();
}
