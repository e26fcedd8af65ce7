import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { CloseCode, ErrorCode, encode } from "@leasehold/protocol";
import type { Logger } from "pino";
import type { PeerSocket, Wire } from "./peer-socket.js";
import type { OriginPolicy } from "../auth/origin.js";
import { closeWithoutReading } from "./cut-off.js";
import type { RefusalHolds } from "./refusal-hold.js";
import { RAW_SECURITY_HEADERS, SECURITY_HEADERS } from "../http/security-headers.js";

/**
 * Checks an HTTP upgrade before any WebSocket exists. A browser page from an origin that is not
 * allowed gets `403 Forbidden` and the TCP connection is closed; no WebSocket, connection or session
 * is ever made for it. Returns false when the upgrade was refused.
 */
export function admitUpgrade(request: IncomingMessage, socket: Duplex, origins: OriginPolicy, logger: Logger | undefined): boolean {
  const origin = request.headers.origin;
  if (origins.allows(origin, request.headers.host)) return true;
  logger?.info({ address: remoteIp(request), origin }, "upgrade refused: origin not allowed");
  refuseUpgrade(socket, 403, `the origin ${origin} may not open a WebSocket here`);
  return false;
}

/**
 * Answers an upgrade that ws found malformed (ws's `wsClientError`: a wrong method, a missing or bad
 * Sec-WebSocket-Key or -Version) as ws would, but with the security headers every response carries.
 * ws does not pass its status: a method other than GET is 405, the rest 400, and the supported
 * version is always named (RFC 6455 requires it when the version was the problem; it costs nothing
 * otherwise).
 */
export function refuseMalformedUpgrade(error: Error, socket: Duplex, request: IncomingMessage): void {
  refuseUpgrade(socket, request.method === "GET" ? 400 : 405, `${error.message}; WebSocket clients upgrade with GET and version 13`, "Sec-WebSocket-Version: 13\r\n");
}

/**
 * Refuses a WebSocket that exceeds a per-address quota: an error the client can read, then close
 * 4005, without waiting for a peer that does not answer the close.
 */
export function refuseAfterUpgrade(ws: PeerSocket, raw: Wire, message: string): void {
  ws.on("error", () => {});
  ws.send(encode({ type: "error", code: ErrorCode.LIMIT_EXCEEDED, message }));
  closeWithoutReading(ws, raw, CloseCode.TOO_MANY_SESSIONS, "too many connections from this address");
}

/**
 * Refuses a new TCP connection past its address's rate, before anything is read from it: HTTP 429
 * on plain TCP (a client reads it as the answer to its upgrade request), after the refusal hold
 * (refusal-hold.ts: unread meanwhile, so a client retrying at once waits too), and a bare close under
 * TLS, where answering would first cost the TLS handshake that the rate is there to bound.
 */
export function refuseConnection(socket: Socket, tls: boolean, perSecond: number, holds: RefusalHolds): void {
  socket.on("error", () => {});
  if (tls) {
    socket.destroy();
    return;
  }
  holds.hold(
    socket,
    () => socket.destroyed || refuseUpgrade(socket, 429, `more than ${perSecond} new connections per second from this address; retry later`, "Retry-After: 1\r\n"),
    () => socket.destroy(),
  );
}

/**
 * Answers what Node's HTTP parser refuses (its `clientError`: a malformed request, headers too large,
 * a request not complete by the handshake deadline) as Node would, with the same status, but with the
 * security headers every response carries. A socket already answered or gone is only destroyed.
 */
export function refuseBadRequest(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (socket as Socket).bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const status = error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  const message = status === 408 ? "the request was not complete by the handshake deadline" : status === 431 ? "the request's headers are too large" : "the request is not valid HTTP/1.1";
  // As Node's own handler does: written, then destroyed at once. Waiting for a peer that trickled its
  // headers to close its side would keep its place in the per-address count for another second.
  socket.write(httpRefusal(status, message));
  socket.destroy();
}

/** Answers an HTTP request on a connection past its address's connection quota: 503, then close. */
export function refuseRequest(response: ServerResponse, message: string): void {
  response.writeHead(503, { ...SECURITY_HEADERS, "Content-Type": "text/plain; charset=utf-8", Connection: "close", "Retry-After": "1" }).end(`${message}\n`);
}

/** The peer's IP address (without port): the unit of the per-address quota. Behind a proxy this is the proxy. */
export function remoteIp(request: IncomingMessage): string {
  return request.socket.remoteAddress ?? "unknown";
}

/** Writes an HTTP refusal to the socket of an upgrade (no WebSocket exists yet) and closes it. */
export function refuseUpgrade(socket: Duplex, status: number, message: string, extraHeaders = ""): void {
  socket.end(httpRefusal(status, message, extraHeaders));
  // A peer that never closes its side is not waited for.
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/** A whole HTTP/1.1 refusal with the security headers, for a bare socket. */
function httpRefusal(status: number, message: string, extraHeaders = ""): string {
  const body = `${message}\n`;
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${RAW_SECURITY_HEADERS}${extraHeaders}\r\n${body}`
  );
}

/**
 * The HTTP deadlines of a listener whose requests (upgrades included) must be complete by the handshake
 * deadline. Node checks those deadlines every `connectionsCheckingInterval` (30 s by default: a request
 * sending one header line at a time lived 33 s under a 10 s deadline), so it checks at a quarter of the deadline.
 */
export function handshakeDeadlines(handshakeTimeoutMs: number): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  return {
    headersTimeout: handshakeTimeoutMs,
    requestTimeout: handshakeTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(handshakeTimeoutMs / 4))),
  };
}

/**
 * Drops `socket` if it is idle for `handshakeTimeoutMs` before it becomes a WebSocket (half-open, or a
 * request never finished): ws clears the timeout once the socket is a WebSocket, and the caller then
 * removes the listener (`socket.removeListener("timeout", destroyOnTimeout)`).
 */
export function dropIfIdle(socket: Socket, handshakeTimeoutMs: number): void {
  socket.setTimeout(handshakeTimeoutMs, destroyOnTimeout);
}

export function destroyOnTimeout(this: Socket): void {
  this.destroy();
}
