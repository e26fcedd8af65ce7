import { connect, type Socket } from "node:net";
import { expect } from "vitest";
import { WebSocket } from "./raw.js";

/** An HTTP response as read off a raw socket. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * Sends `request` (a whole HTTP/1.1 request head, or the start of one that `then` goes on with) on a raw TCP
 * socket to 127.0.0.1:`port` and reads the response until the server closes.
 */
export function exchange(port: number, request: string, then?: (socket: Socket) => void): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(request);
      then?.(socket);
    });
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", body = ""] = text.split("\r\n\r\n", 2);
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body });
    });
  });
}

/** A plain GET of `path` that asks the server to close after answering. */
export const getRequest = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`;
/** A WebSocket upgrade request's head, with `extra` header lines (key, version, origin). */
export const upgradeRequest = (extra: string) => `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`;
export const WEBSOCKET_KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/** The port of a ws:// or wss:// URL. */
export function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Asserts the security headers every HTTP response carries (README, "Security headers"). */
export function expectSecurityHeaders(headers: Map<string, string>, what: string): void {
  const csp = headers.get("content-security-policy") ?? "";
  const directives = new Map(csp.split(";").map((part) => part.trim().split(/\s+/)).map(([name = "", ...values]) => [name, values]));
  expect(directives.get("default-src"), `${what}: default-src`).toEqual(["'none'"]);
  expect(directives.get("script-src"), `${what}: script-src`).toEqual(["'self'"]);
  expect(directives.get("style-src"), `${what}: style-src`).toEqual(["'self'"]);
  expect(directives.get("connect-src"), `${what}: connect-src`).toEqual(["'self'"]);
  expect(directives.get("frame-ancestors"), `${what}: frame-ancestors`).toEqual(["'none'"]);
  expect(csp, what).not.toMatch(/unsafe-inline|unsafe-eval/);
  expect(headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(headers.get("x-frame-options"), what).toBe("DENY");
  expect(headers.get("referrer-policy"), what).toBe("no-referrer");
}

/** The HTTP status an upgrade with this Origin header gets: 101 when a WebSocket opens. */
export function upgradeStatus(url: string, origin: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, origin === undefined ? {} : { origin });
    socket.on("open", () => {
      socket.terminate();
      resolve(101);
    });
    socket.on("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      response.resume();
    });
    socket.on("error", () => {});
  });
}
