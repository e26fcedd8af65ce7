import type { CloseCode } from "@leasehold/protocol";
import type WebSocket from "ws";

/** How long a peer that is not read any more has to take in its close before its socket is destroyed. */
const CLOSE_GRACE_MS = 1_000;

/**
 * Closes and destroys the socket now, for a peer that must cost nothing more: the close frame is
 * written before the socket goes, and what ws held of it is freed at once.
 */
export function cutOff(ws: WebSocket, code: CloseCode, reason: string): void {
  if (ws.readyState === ws.OPEN) ws.close(code, reason.slice(0, 120));
  ws.terminate();
}

/**
 * Closes, reads nothing more, and destroys the socket a second later. A flooding peer would otherwise
 * be read (and its frames parsed) until it answers the close, for up to 30 s; destroyed at once, its
 * unread data would turn the close into a TCP reset that loses the close code and the replies before it.
 */
export function closeWithoutReading(ws: WebSocket, code: CloseCode, reason: string): void {
  if (ws.readyState === ws.OPEN) ws.close(code, reason.slice(0, 120));
  ws.pause();
  setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
}
