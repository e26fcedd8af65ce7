import { describe, expect, it } from "vitest";
import { exchange, expectSecurityHeaders, getRequest, portOf, upgradeRequest, upgradeStatus, WEBSOCKET_KEY } from "../support/http-exchange.js";
import { inspectOver } from "../support/inspect.js";
import type { Target } from "../support/target.js";

/** The browser origins the target allows (`allowOrigins`, `--allow-origin` for a cluster's gateways). */
export const REFUSALS_ALLOWED_ORIGINS = ["https://app.example", "http://127.0.0.1:9"];
/**
 * The target's handshake deadline (`handshakeTimeoutMs`, `--handshake-timeout`): short, for the 408, but not
 * shorter than a relayed hello takes under load (at 500 ms, one in five runs at a load of 27 had the
 * inspector's hello, through the follower, reach the leader after its deadline: 4002).
 */
export const REFUSALS_HANDSHAKE_MS = 1_000;

/**
 * What a listener answers over HTTP, and that every answer carries the security headers: plain requests,
 * refused upgrades (origin, malformed), Node's own refusals. test/security/headers.test.ts runs these against
 * one server, test/cluster/e2e-http.test.ts against a cluster's follower, whose listener is its own
 * (cluster/relay.ts): it checks the origin, the upgrade and the handshake deadline itself, before it dials the
 * leader. A follower serves the same pages and probes as the leader (cluster/follower-http.ts); its /metrics
 * answers 503 naming the leader, whose state the metrics are.
 */
export function describeHttpRefusals(target: Target): void {
  describe(`HTTP answers carry the security headers (${target.name})`, () => {
    it("plain requests: the dashboard 200, probes 200, an unknown page 404, POST 405, all with the headers", async () => {
      const port = portOf((await target.start()).url);
      const post = `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
      const answers: [string, string, number][] = [
        ["GET /", getRequest("/"), 200],
        ["GET /healthz", getRequest("/healthz"), 200],
        ["GET /no/such/page", getRequest("/no/such/page"), 404],
        ["POST /", post, 405],
      ];
      for (const [what, request, status] of answers) {
        const response = await exchange(port, request);
        expect(response.status, what).toBe(status);
        expectSecurityHeaders(response.headers, what);
        if (what === "GET /") expect(response.body, what).toContain("leasehold · dashboard");
      }
      // A follower's process holds none of the cluster's state: its /metrics names the leader instead of reporting an empty cluster.
      if (target.via === "follower") {
        const metrics = await exchange(port, getRequest("/metrics"));
        expect(metrics.status).toBe(503);
        expect(metrics.body).toMatch(/scrape \/metrics at the leader \(wss?:\/\/127\.0\.0\.1:\d+\)/);
        expectSecurityHeaders(metrics.headers, "GET /metrics on a follower");
      }
    });

    it("refused WebSocket upgrades carry them too: a foreign origin (403) and a malformed upgrade (400, 405)", async () => {
      const server = await target.start();
      const port = portOf(server.url);
      const before = (await inspectOver(server.url)).sessions.map((session) => session.session);
      const foreign = await exchange(port, upgradeRequest(`${WEBSOCKET_KEY}Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n`));
      expect(foreign.status).toBe(403);
      expect(foreign.body).toContain("https://evil.example may not open a WebSocket here");
      expectSecurityHeaders(foreign.headers, "403 foreign origin");

      const noKey = await exchange(port, upgradeRequest("Sec-WebSocket-Version: 13\r\n"));
      expect(noKey.status).toBe(400);
      expect(noKey.body).toContain("Sec-WebSocket-Key");
      expectSecurityHeaders(noKey.headers, "400 without a key");

      const badVersion = await exchange(port, upgradeRequest(`${WEBSOCKET_KEY}Sec-WebSocket-Version: 7\r\n`));
      expect(badVersion.status).toBe(400);
      expect(badVersion.headers.get("sec-websocket-version")).toBe("13");
      expectSecurityHeaders(badVersion.headers, "400 with a bad version");

      const wrongMethod = await exchange(port, upgradeRequest(`${WEBSOCKET_KEY}Sec-WebSocket-Version: 13\r\n`).replace(/^GET/, "PUT"));
      expect(wrongMethod.status).toBe(405);
      expectSecurityHeaders(wrongMethod.headers, "405 upgrade with PUT");
      // None of them opened a session (on a cluster, at the leader).
      expect((await inspectOver(server.url)).sessions.filter((session) => !before.includes(session.session))).toEqual([]);
    });

    it("Node's own refusals of a bad request carry them too: 400 for a malformed one, 408 past the handshake deadline", async () => {
      const port = portOf((await target.start()).url);
      const malformed = await exchange(port, "NOT HTTP AT ALL\r\n\r\n");
      expect(malformed.status).toBe(400);
      expectSecurityHeaders(malformed.headers, "400 malformed request");
      // A header line every 50 ms, so that the socket is never idle (an idle one is dropped without an answer).
      const late = await exchange(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", (socket) => {
        let line = 0;
        const trickle = setInterval(() => socket.write(`X-Slow-${line++}: 1\r\n`), 50);
        socket.once("close", () => clearInterval(trickle));
      });
      expect(late.status).toBe(408);
      expectSecurityHeaders(late.headers, "408 request not complete by the deadline");
    });
  });

  describe(`origin checks at the upgrade (${target.name})`, () => {
    it("with an allow-list: listed origins and non-browser clients get a WebSocket, others 403 before any exists", async () => {
      const server = await target.start();
      const before = (await inspectOver(server.url)).sessions.map((session) => session.session);
      expect(await upgradeStatus(server.url, "https://app.example")).toBe(101);
      expect(await upgradeStatus(server.url, "HTTPS://APP.EXAMPLE:443")).toBe(101);
      expect(await upgradeStatus(server.url, "http://127.0.0.1:9")).toBe(101);
      expect(await upgradeStatus(server.url, undefined)).toBe(101);
      for (const origin of ["https://evil.example", "http://app.example", "https://app.example.evil", "null", "http://127.0.0.1:10"]) {
        expect(await upgradeStatus(server.url, origin), origin).toBe(403);
      }
      // The sockets that opened said no hello: no session, on one server or at a cluster's leader.
      expect((await inspectOver(server.url)).sessions.filter((session) => !before.includes(session.session))).toEqual([]);
    });
  });
}
