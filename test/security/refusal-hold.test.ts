/**
 * A refusal the client can do nothing about for now (HTTP 429 past its address's rate of new connections,
 * 4005 at a session cap) is answered only after a hold of a second, its socket unread meanwhile: a client
 * retrying at once then makes one attempt a second per connection in flight instead of hundreds, each of
 * which cost the server 0.25-0.9 ms (BENCHMARKS.md, "Session parking (round 9)").
 */
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { REFUSAL_HOLD_MS } from "../../packages/server/src/connection/refusal-hold.js";
import { startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";

describe("refusals held for a second", () => {
  it("a hello past the server's session cap is answered LIMIT_EXCEEDED and 4005 no sooner than the hold", async () => {
    const server = await startServer({ limits: { maxSessionsPerPrincipal: 2 } });
    for (let i = 0; i < 2; i++) await (await Raw.open(server.url)).hello();
    const refused = await Raw.open(server.url);
    const started = performance.now();
    refused.send({ op: "hello", version: 1, agent: "raw" });
    // Pipelined behind the hello: read before the socket paused, it must not end the hold early.
    refused.send({ op: "ping" });
    const close = await refused.closed();
    const elapsedMs = performance.now() - started;
    expect(close.code).toBe(CloseCode.TOO_MANY_SESSIONS);
    expect(refused.received).toEqual([expect.objectContaining({ type: "error", code: ErrorCode.LIMIT_EXCEEDED })]);
    expect(elapsedMs).toBeGreaterThanOrEqual(REFUSAL_HOLD_MS - 5);
  });

  it("a loop reconnecting at once past the new-connection rate gets about one 429 a second, not hundreds", async () => {
    const server = await startServer({ maxNewConnectionsPerSecond: 1 });
    const statuses: number[] = [];
    const started = performance.now();
    while (performance.now() - started < 2_000) statuses.push(await upgradeStatus(server.url));
    const refusals = statuses.filter((status) => status === 429).length;
    // Without the hold: over a hundred 429s in the same 2 s (each answered at once).
    expect(refusals, JSON.stringify(statuses)).toBeGreaterThanOrEqual(1);
    expect(refusals, JSON.stringify(statuses)).toBeLessThanOrEqual(3);
  });

  it("the server's close ends the holds at once, without an answer, rather than waiting a second for each", async () => {
    const server = await startServer({ maxNewConnectionsPerSecond: 1 });
    await Raw.open(server.url); // the second's one connection
    const port = Number(new URL(server.url).port);
    const held = [0, 1, 2].map(() => connect(port, "127.0.0.1").on("error", () => {}));
    await Promise.all(held.map((socket) => new Promise((resolve) => socket.once("connect", resolve))));
    const answers = held.map(
      (socket) =>
        new Promise<string>((resolve) => {
          let answer = "";
          socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
          socket.once("close", () => resolve(answer));
        }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50)); // accepted and held by the server
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(REFUSAL_HOLD_MS / 2);
    expect(await Promise.all(answers)).toEqual(["", "", ""]);
  });
});

/** Sends a WebSocket upgrade on a new TCP connection and resolves with the answer's HTTP status, dropping the connection then. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1");
    socket.on("error", () => resolve(0));
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    socket.once("data", (chunk: Buffer) => {
      resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(chunk.toString("latin1"))?.[1] ?? 0));
      socket.destroy();
    });
  });
}
