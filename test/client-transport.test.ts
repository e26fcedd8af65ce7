import { createServer as createTcpServer } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { ErrorCode } from "@leasehold/protocol";
import { LeaseholdClient, connect, type WebSocketConstructor } from "@leasehold/client";
import { defer, startClient, startServer } from "./support/fixtures.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { inspectOver } from "./support/inspect.js";
import { WebSocket } from "./support/raw.js";

describe("client transport on real sockets", () => {
  it("answers a second open() during the first dial with that dial: one session on the server, both settled", async () => {
    const server = await startServer();
    const client = new LeaseholdClient(server.url, { pageLifecycle: false });
    defer(() => client.close());
    const both = Promise.all([client.open(), client.open()]);
    const settled = await Promise.race([both.then(() => "settled"), new Promise((resolve) => setTimeout(resolve, 3_000, "still waiting"))]);
    expect(settled).toBe("settled");
    expect((await inspectOver(server.url)).sessions.length).toBe(1);
    expect(client.state).toMatchObject({ kind: "open", url: server.url, session: client.sessionId });
  });

  it("skips a dead URL (a closed port) and opens on the live one after it", async () => {
    const server = await startServer();
    const dead = await deadUrl();
    const client = await startClient([dead, server.url]);
    expect(client.state).toMatchObject({ kind: "open", url: server.url });
    expect(client.urls).toEqual([dead, server.url]);
  });

  it("rejects connect() with the last URL's error when no URL answers", async () => {
    const urls = [await deadUrl(), await deadUrl()];
    await expect(connect(urls, { pageLifecycle: false })).rejects.toMatchObject({ code: ErrorCode.NOT_CONNECTED, message: expect.stringContaining(urls[1]!) });
  });

  it("moves on to the next URL when the connection is lost, and resumes the session there, lock and token kept", async () => {
    const server = await startServer();
    // Two ways to one server: through a proxy that the test cuts, and direct.
    const proxy = TcpProxy.forUrl(server.url);
    const viaProxy = await proxy.start();
    defer(() => proxy.close());
    const client = await startClient([viaProxy, server.url]);
    const session = client.sessionId;
    const lease = await client.leases.grant(5_000);
    const lock = await client.locks.acquire("lock:moves", lease.id);
    const reconnected = new Promise((resolve) => client.addEventListener("reconnected", resolve, { once: true }));
    const states: string[] = [];
    client.addEventListener("statechange", (event) => states.push((event as CustomEvent<{ kind: string }>).detail.kind));
    proxy.cut();
    await reconnected;
    expect(client.state).toMatchObject({ kind: "open", url: server.url, session });
    expect(states).toEqual(["reconnecting", "reconnecting", "open"]);
    expect(lock.held).toBe(true);
    const other = await startClient(server.url);
    expect((await other.locks.acquire("lock:moves", (await other.leases.grant(5_000)).id)).acquired).toBe(false);
  });

  it("moves on to a server that does not know the session: a new session there, everything of the old one given up", async () => {
    const first = await startServer();
    const second = await startServer();
    const client = await startClient([first.url, second.url]);
    const session = client.sessionId;
    const lease = await client.leases.grant(5_000);
    const expired = new Promise((resolve) => client.addEventListener("expired", resolve, { once: true }));
    await first.close();
    await expired;
    await vi.waitFor(() => expect(client.state).toMatchObject({ kind: "open", url: second.url }));
    expect(client.sessionId).not.toBe(session);
    expect(lease.lost).toBe(true);
    expect((await inspectOver(second.url)).sessions.length).toBe(1);
  });

  it("releases with `await using`: the lock, the lease, the election term, the watch and the client", async () => {
    const server = await startServer();
    const other = await startClient(server.url);
    const otherLease = await other.leases.grant(5_000);
    let leaseId = 0;
    {
      await using client = await connect(server.url, { pageLifecycle: false });
      {
        await using lease = await client.leases.grant(5_000);
        leaseId = lease.id;
        {
          await using lock = await client.locks.acquire("lock:using", lease.id);
          await using term = await client.elections.campaign("election:using", lease.id);
          await using watch = client.watch("using/");
          expect([lock.held, term.token > 0, watch.closed]).toEqual([true, true, false]);
          expect((await other.locks.acquire("lock:using", otherLease.id)).acquired).toBe(false);
        }
        // The lock and the term are given up at the end of their block, the lease still held.
        expect((await other.locks.acquire("lock:using", otherLease.id)).acquired).toBe(true);
        expect(await other.elections.leader("election:using")).toBeNull();
        await expect(client.leases.timeToLive(leaseId)).resolves.toMatchObject({ ttlMs: 5_000 });
      }
      await expect(client.leases.timeToLive(leaseId)).rejects.toMatchObject({ code: ErrorCode.LEASE_NOT_FOUND });
      expect((await inspectOver(server.url)).sessions.length).toBe(2);
    }
    await vi.waitFor(async () => expect((await inspectOver(server.url)).sessions.length).toBe(1));
  });

  it("reads the server's replies and pushes without ws's Receiver on Node, and hands the socket back to ws when it lets go of it", async () => {
    const server = await startServer();
    const sockets: InstanceType<typeof WebSocket>[] = [];
    class Watched extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    }
    const client = await startClient(server.url, { WebSocket: Watched as unknown as WebSocketConstructor, pageLifecycle: false });
    const receiver = (sockets[0] as unknown as { _receiver: { _write(): void } })._receiver;
    const throughWs = vi.spyOn(receiver, "_write");
    const watch = client.watch("read/");
    await watch.ready;
    const pushed = watch[Symbol.asyncIterator]().next();
    await client.put("read/a", "a");
    await expect(client.get("read/a")).resolves.toMatchObject({ value: "a" });
    await expect(pushed).resolves.toMatchObject({ value: { type: "put", key: "read/a" } });
    // Replies and the watch's push came in common frames, read by frame-reader.ts.
    expect(throughWs).not.toHaveBeenCalled();
    expect(Object.hasOwn(receiver, "write")).toBe(true);
    await client.close();
    expect(Object.hasOwn(receiver, "write")).toBe(false);
  });
});

/** A ws:// URL on a port of 127.0.0.1 that was free a moment ago and refuses connections now. */
async function deadUrl(): Promise<string> {
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return `ws://127.0.0.1:${address.port}`;
}
