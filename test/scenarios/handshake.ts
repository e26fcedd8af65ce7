import { connect as tcpConnect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { CloseCode, PROTOCOL_VERSION, encode } from "@leasehold/protocol";
import { defer } from "../support/fixtures.js";
import { inspectOver } from "../support/inspect.js";
import { Raw } from "../support/raw.js";
import { TOKENS } from "../support/security.js";
import type { Target } from "../support/target.js";

/**
 * The target's handshake deadline (`handshakeTimeoutMs`, `serve --handshake-timeout`): long enough that
 * a relayed hello on a loaded machine is never late, short enough for a test to wait it out.
 */
export const HANDSHAKE_DEADLINE_MS = 1_000;
/** The target's bound on bytes before the welcome (`maxHandshakeBytes`, `serve --max-handshake-bytes`). */
export const HANDSHAKE_BYTES = 2_048;

/**
 * The handshake deadlines and bounds, against a target with HANDSHAKE_DEADLINE_MS and HANDSHAKE_BYTES
 * and the static tokens of AUTH_OPTIONS: test/security/handshake.test.ts runs them against one server,
 * test/cluster/e2e-security.test.ts against a cluster, where the socket is a follower's.
 */
export function describeHandshake(target: Target): void {
  describe(`handshake deadlines (${target.name})`, () => {
    it("half-open connections that never send a byte, or never finish their HTTP request, are closed after the deadline", async () => {
      const server = await target.start();
      const port = Number(new URL(server.url).port);
      const silent = await openTcp(port);
      const slow = await openTcp(port);
      // A slowloris: the upgrade request trickles in and is never finished.
      slow.socket.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n");
      const [silentFor, slowFor] = await Promise.all([silent.ended, slow.ended]);
      expect(silentFor).toBeGreaterThanOrEqual(HANDSHAKE_DEADLINE_MS - 50);
      expect(silentFor).toBeLessThan(HANDSHAKE_DEADLINE_MS + 5_000);
      expect(slowFor).toBeLessThan(HANDSHAKE_DEADLINE_MS + 5_000);
    });

    it("a WebSocket that never says hello is closed with 4002", async () => {
      const server = await target.start();
      const before = await sessionIds(server.url);
      const raw = await Raw.open(server.url);
      const closed = await raw.closed();
      expect(closed.code).toBe(CloseCode.HANDSHAKE_TIMEOUT);
      expect((await sessionIds(server.url)).filter((id) => !before.includes(id))).toEqual([]);
    });

    it("before the welcome one frame may hold only maxHandshakeBytes (1009, though under maxFrameBytes); after it, the frame limit applies", async () => {
      const server = await target.start();
      const before = await sessionIds(server.url);
      // A hello padded past the bound with a field the server ignores (well under the 64 KiB frame limit)...
      const early = await Raw.open(server.url);
      early.socket.send(encode({ op: "hello", version: PROTOCOL_VERSION, auth: TOKENS.tenantA, agent: "a".repeat(100), padding: "x".repeat(HANDSHAKE_BYTES + 1_000) }));
      expect((await early.closed()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
      expect((await sessionIds(server.url)).filter((id) => !before.includes(id))).toEqual([]);
      // ...while the same bytes in a request after the welcome are an ordinary request.
      const late = await Raw.open(server.url);
      await late.hello(TOKENS.tenantA);
      expect(await late.request({ op: "kv.put", key: "tenant-a/handshake/big", value: "x".repeat(HANDSHAKE_BYTES + 1_000) })).toMatchObject({ type: "reply" });
    });
  });
}

/** The sessions the target has now (a cluster's other tests may have some of their own). */
async function sessionIds(url: string): Promise<string[]> {
  return (await inspectOver(url, TOKENS.admin)).sessions.map((session) => session.session);
}

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
