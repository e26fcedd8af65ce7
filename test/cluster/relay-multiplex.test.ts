import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { CloseCode, ErrorCode, encode, PROTOCOL_VERSION } from "@leasehold/protocol";
import { MultiplexRelay } from "../../packages/server/src/cluster/multiplex-relay.js";
import { OriginPolicy } from "../../packages/server/src/auth/origin.js";
import { GATEWAY_SECRET_HEADER } from "../../packages/server/src/auth/cluster-secret.js";
import { LINK_HEADER, LINK_VERSION, encodeData, encodeOpen } from "../../packages/server/src/cluster/link-envelope.js";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { defer, startClient, startServer } from "../support/fixtures.js";
import { Raw, WebSocket, type RawWebSocket } from "../support/raw.js";
import { leaderOf, startGateways } from "./support/gateways.js";

const SECRET = Buffer.from("0123456789abcdef0123456789abcdef");

/** A multiplexing follower's relay on a free port, to `leaderUrl`, with `links` links; closed after the test. */
async function startMultiplexRelay(leaderUrl: () => Promise<string | undefined>, links = 2): Promise<{ url: string; relay: MultiplexRelay }> {
  const relay = new MultiplexRelay({ leaderUrl, links, secret: SECRET, origins: new OriginPolicy(undefined), maxFrameBytes: 1024 * 1024, highWaterBytes: 1024 * 1024, connectTimeoutMs: 2_000, handshakeTimeoutMs: 10_000, maxNewConnectionsPerSecond: 10_000, logger: undefined });
  const port = await relay.listen("127.0.0.1", 0);
  defer(() => relay.close());
  return { url: `ws://127.0.0.1:${port}`, relay };
}

/** TCP connections established to `port` on this machine, counted at the listening end (IPv4 loopback: /proc/net/tcp). */
function establishedTo(port: number): number {
  // The server's own end: 127.0.0.1 (little-endian hex, as the file writes it) and its port. The address
  // counts too: a client connecting from 127.0.0.3 (the benchmark's session holders use 127.0.0.2-17)
  // can be given the same number as its own ephemeral port, and was counted here (4 and 6 for 2 and 4).
  const ownEnd = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  // Counted by address pair: the kernel writes the file in pages while sockets come and go, so on a busy
  // machine (11,000 sockets of other tests) one socket can be listed twice (a count of 3 for 2 was seen).
  const pairs = readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter(([, local, , state]) => local === ownEnd && state === "01")
    .map(([, local, remote]) => `${local} ${remote}`);
  return new Set(pairs).size;
}

/** A link opened by hand with these headers; resolves with the socket, or the HTTP status it was refused with. */
function openLinkByHand(url: string, headers: Record<string, string>): Promise<RawWebSocket | number> {
  const socket = new WebSocket(url, { headers });
  defer(() => socket.terminate());
  socket.on("error", () => {});
  return new Promise((resolve) => {
    socket.once("open", () => resolve(socket));
    socket.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
  });
}

describe("a multiplexing follower's relay", () => {
  it("carries many clients' sessions over few links: the leader holds as many TCP connections as there are links", async () => {
    const server = await startServer({ clusterSecret: SECRET });
    const { url, relay } = await startMultiplexRelay(async () => server.url, 2);
    const clients = await Promise.all(Array.from({ length: 12 }, () => startClient(url)));
    const locks = await Promise.all(clients.map(async (client, index) => client.locks.acquire(`mux/${index}`, (await client.leases.grant(5_000)).id)));
    expect(locks.every((lock) => lock.acquired)).toBe(true);
    expect(server.coordinator.sessions.size).toBe(12);
    expect(relay.connections).toBe(12);
    expect(relay.links).toBe(2);
    expect(establishedTo(server.port)).toBe(2);
    // A clean close (bye, then 1000) travels as a CLOSE: the session is gone on the leader, the link stays.
    const [first] = clients;
    await first!.close();
    await vi.waitFor(() => expect(server.coordinator.sessions.has(first!.sessionId!)).toBe(false));
    expect(relay.connections).toBe(11);
    expect(establishedTo(server.port)).toBe(2);
  });

  it("keeps idle sessions alive: heartbeats travel both ways over the link, and no lease lapses", async () => {
    const server = await startServer({ clusterSecret: SECRET });
    const { url } = await startMultiplexRelay(async () => server.url, 1);
    const clients = await Promise.all(Array.from({ length: 4 }, () => startClient(url)));
    const locks = await Promise.all(clients.map(async (client, index) => client.locks.acquire(`idle/${index}`, (await client.leases.grant(600)).id)));
    // Several TTLs of silence but for heartbeats.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(locks.every((lock) => lock.held && !lock.signal.aborted)).toBe(true);
    for (const [index, client] of clients.entries()) expect((await client.locks.query(`idle/${index}`)).held.map((entry) => entry.clientId)).toEqual([client.sessionId]);
  });

  it("a client that stops reading is closed with 4006 while another on the same link goes on", async () => {
    const maxBacklogBytes = 1024 * 1024;
    const server = await startServer({ clusterSecret: SECRET, limits: { maxBacklogBytes }, watch: { pauseBytes: 1024 * 1024 * 1024 } });
    const { url, relay } = await startMultiplexRelay(async () => server.url, 1);
    const reader = await Raw.open(url);
    const welcome = await reader.hello();
    await reader.request({ op: "watch", prefix: "firehose/" });
    // The reader stops reading its TCP socket: what the leader sends it piles up at the follower.
    (reader.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const writer = await startClient(url);
    expect(relay.links).toBe(1);
    const value = "x".repeat(32 * 1024);
    let written = 0;
    while (server.coordinator.sessions.get(welcome.session)?.outlet && written < 64 * 1024 * 1024) {
      await Promise.all(Array.from({ length: 32 }, (_, i) => writer.put(`firehose/${i}`, value)));
      written += 32 * value.length;
    }
    expect(server.coordinator.sessions.get(welcome.session)?.outlet, "the slow reader should have been detached").toBeNull();
    // Cut off within a few MiB of the cap (the reader's kernel buffers take some), far from 64 MiB.
    expect(written).toBeLessThan(maxBacklogBytes * 16);
    // The writer, on the same link, goes on.
    expect((await writer.put("firehose/after", 1)).revision).toBeGreaterThan(0);
    expect(relay.links).toBe(1);
    (reader.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    expect((await reader.closed()).code).toBe(CloseCode.SLOW_CONSUMER);
  });

  it("per-address limits count the client's address, not the follower's", async () => {
    const server = await startServer({ clusterSecret: SECRET, limits: { maxConnectionsPerAddress: 1 } });
    const { url } = await startMultiplexRelay(async () => server.url, 1);
    const fromTwo = await Raw.open(url, { localAddress: "127.0.0.2" });
    const welcome = await fromTwo.hello();
    expect(server.coordinator.sessions.get(welcome.session)?.address).toMatch(/^127\.0\.0\.2:\d+$/);
    // Another address has its own place, though it comes through the same follower and link.
    const fromThree = await Raw.open(url, { localAddress: "127.0.0.3" });
    await fromThree.hello();
    const again = await Raw.open(url, { localAddress: "127.0.0.2" });
    expect((await again.closed()).code).toBe(CloseCode.TOO_MANY_SESSIONS);
    expect(again.received).toEqual([expect.objectContaining({ type: "error", code: ErrorCode.LIMIT_EXCEEDED })]);
    // Closing one frees its place.
    fromTwo.socket.close();
    await fromTwo.closed();
    await vi.waitFor(async () => {
      const later = await Raw.open(url, { localAddress: "127.0.0.2" });
      await later.hello();
    });
  });
});

describe("the leader's check of a link", () => {
  it("refuses a link without the cluster secret or with a wrong one (403) before reading any envelope, and one of another version (400)", async () => {
    const server = await startServer({ clusterSecret: SECRET });
    expect(await openLinkByHand(server.url, { [LINK_HEADER]: LINK_VERSION })).toBe(403);
    expect(await openLinkByHand(server.url, { [LINK_HEADER]: LINK_VERSION, [GATEWAY_SECRET_HEADER]: "wrong-secret-wrong-secret-wrong!" })).toBe(403);
    expect(await openLinkByHand(server.url, { [LINK_HEADER]: "multiplex/0", [GATEWAY_SECRET_HEADER]: SECRET.toString() })).toBe(400);
    // A server without a secret takes no links at all.
    const open = await startServer();
    expect(await openLinkByHand(open.url, { [LINK_HEADER]: LINK_VERSION, [GATEWAY_SECRET_HEADER]: SECRET.toString() })).toBe(403);
    expect(server.coordinator.sessions.size).toBe(0);
  });

  it("closes a link that sends a malformed envelope (4000), ending its streams; other connections go on", async () => {
    const server = await startServer({ clusterSecret: SECRET });
    const bystander = await startClient(server.url);
    const link = await openLinkByHand(server.url, { [LINK_HEADER]: LINK_VERSION, [GATEWAY_SECRET_HEADER]: SECRET.toString() });
    if (typeof link === "number") throw new Error(`the link was refused with HTTP ${link}`);
    link.send(encodeOpen(7, { ip: "192.0.2.7", address: "192.0.2.7:4000" }));
    link.send(encodeData(7, encode({ op: "hello", version: PROTOCOL_VERSION, agent: "by hand" })));
    await vi.waitFor(() => expect([...server.coordinator.sessions.values()].some((session) => session.address === "192.0.2.7:4000" && session.outlet)).toBe(true));
    const closed = new Promise<number>((resolve) => link.once("close", (code: number) => resolve(code)));
    link.send(Buffer.from([99, 0, 0, 0, 7]));
    expect(await closed).toBe(CloseCode.PROTOCOL_ERROR);
    await vi.waitFor(() => expect([...server.coordinator.sessions.values()].find((session) => session.address === "192.0.2.7:4000")?.outlet).toBeNull());
    expect((await bystander.put("still", 1)).revision).toBeGreaterThan(0);
  });
});

describe("the leader's reading of a link", () => {
  it("handles the envelopes of a link's many streams in few turns: a link is budgeted per stream, not as one client's socket", async () => {
    const server = await startServer({ clusterSecret: SECRET });
    const link = await openLinkByHand(server.url, { [LINK_HEADER]: LINK_VERSION, [GATEWAY_SECRET_HEADER]: SECRET.toString() });
    if (typeof link === "number") throw new Error(`the link was refused with HTTP ${link}`);
    const STREAMS = 160;
    // Every stream's OPEN and hello in one write: the leader reads them together. Budgeted as one socket
    // (16 frames a turn) it needs 20 turns for these 320 envelopes; budgeted per stream, one or two.
    const raw = (link as unknown as { _socket: import("node:net").Socket })._socket;
    raw.cork();
    for (let stream = 1; stream <= STREAMS; stream++) {
      link.send(encodeOpen(stream, { ip: "192.0.2.8", address: `192.0.2.8:${stream}` }));
      link.send(encodeData(stream, encode({ op: "hello", version: PROTOCOL_VERSION, agent: "by hand" })));
    }
    raw.uncork();
    let turns = 0;
    const count = (): void => {
      turns++;
      if (server.coordinator.sessions.size < STREAMS) setImmediate(count);
    };
    setImmediate(count);
    await vi.waitFor(() => expect(server.coordinator.sessions.size).toBe(STREAMS));
    expect(turns).toBeLessThanOrEqual(4);
  });
});

describe("a cluster whose followers multiplex", () => {
  it("kill -9 of the leader: clients carried by the followers resume on a surviving gateway within their TTL and keep their locks", async () => {
    const TTL = 8_000;
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster, { args: ["--relay-mode", "multiplex", "--relay-links", "2"] });
    const leader = await leaderOf(gateways);
    const followers = gateways.filter((gateway) => gateway !== leader);
    const urls = (first: number) => [followers[first % 2]!, followers[(first + 1) % 2]!, leader].map((gateway) => gateway.url);
    const clients = await Promise.all(Array.from({ length: 6 }, (_, index) => startClient(urls(index))));
    const locks = await Promise.all(clients.map(async (client, index) => client.locks.acquire(`failover/${index}`, (await client.leases.grant(TTL)).id)));
    expect(locks.every((lock) => lock.acquired)).toBe(true);
    // Six clients, all carried by the followers: the leader holds their links (2 each), not 6 connections.
    expect(establishedTo(Number(new URL(leader.url).port))).toBeLessThanOrEqual(4);

    const killedAt = performance.now();
    leader.kill();
    await leaderOf(followers, 15_000);
    await Promise.all(
      clients.map((client, index) =>
        vi.waitFor(async () => expect((await client.locks.query(`failover/${index}`)).held.map((entry) => entry.clientId)).toEqual([client.sessionId]), { timeout: TTL }),
      ),
    );
    const resumedAfterMs = performance.now() - killedAt;
    expect(resumedAfterMs).toBeLessThan(TTL);
    expect(locks.every((lock) => lock.held && !lock.signal.aborted)).toBe(true);
    console.log(`multiplexed followers, kill -9 of the leader to every client resumed: ${resumedAfterMs.toFixed(0)} ms`);
  });
});
