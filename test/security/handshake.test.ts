import { connect as tcpConnect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { CloseCode, PROTOCOL_VERSION, encode } from "@leasehold/protocol";
import { defer, startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";
import { inspectOver } from "../support/inspect.js";

function openTcp(port: number): Promise<{ socket: Socket; ended: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const socket = tcpConnect(port, "127.0.0.1", () => {
      const ended = new Promise<number>((done) => socket.once("close", () => done(performance.now() - startedAt)));
      resolve({ socket, ended });
    });
    socket.on("error", reject);
    socket.resume(); // read whatever the server sends, so that its close is seen
    defer(() => socket.destroy());
  });
}

describe("handshake deadlines", () => {
  it("half-open connections that never send a byte, or never finish their HTTP request, are closed after the deadline", async () => {
    const server = await startServer({ handshakeTimeoutMs: 300 });
    const silent = await openTcp(server.port);
    const slow = await openTcp(server.port);
    // A slowloris: the upgrade request trickles in and is never finished.
    slow.socket.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n");
    const [silentFor, slowFor] = await Promise.all([silent.ended, slow.ended]);
    expect(silentFor).toBeGreaterThanOrEqual(250);
    expect(silentFor).toBeLessThan(5_000);
    expect(slowFor).toBeLessThan(5_000);
  });

  it("a WebSocket that never says hello is closed with 4002", async () => {
    const server = await startServer({ handshakeTimeoutMs: 300, auth: { tokens: STATIC_TOKENS } });
    const raw = await Raw.open(server.url);
    const closed = await raw.closed();
    expect(closed.code).toBe(CloseCode.HANDSHAKE_TIMEOUT);
    expect((await inspectOver(server.url, TOKENS.admin)).sessions).toEqual([]);
  });

  it("before the welcome one frame may hold only maxHandshakeBytes (1009, though under maxFrameBytes); after it, the frame limit applies", async () => {
    const server = await startServer({ maxHandshakeBytes: 2_048 });
    // A hello padded past the bound with a field the server ignores (well under the 64 KiB frame limit)...
    const early = await Raw.open(server.url);
    early.socket.send(encode({ op: "hello", version: PROTOCOL_VERSION, agent: "a".repeat(100), padding: "x".repeat(3_000) }));
    expect((await early.closed()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    expect((await inspectOver(server.url)).sessions).toEqual([]);
    // ...while the same bytes in a request after the welcome are an ordinary request.
    const late = await Raw.open(server.url);
    await late.hello();
    expect(await late.request({ op: "kv.put", key: "big", value: "x".repeat(3_000) })).toMatchObject({ type: "reply" });
  });
});

