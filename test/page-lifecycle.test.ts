import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionExpiredError, type LeaseholdClient, type WebSocketConstructor } from "@leasehold/client";
import { FakeClock, decodeClientMessage } from "@leasehold/protocol";
import { startClient, startServer, defer } from "./support/fixtures.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { WebSocket } from "./support/raw.js";

/**
 * The client in a page (issue 17): what it does on the page's lifecycle events, tried in Node with
 * the page's `window` and `document` stood in for by EventTargets. test/browser/hidden-tabs.test.ts
 * tries the same in Chromium.
 */

const TTL = 2_000;
let page: { window: EventTarget; document: EventTarget };

afterEach(() => {
  vi.unstubAllGlobals();
});

function stubPage(): void {
  page = { window: new EventTarget(), document: new EventTarget() };
  vi.stubGlobal("addEventListener", page.window.addEventListener.bind(page.window));
  vi.stubGlobal("removeEventListener", page.window.removeEventListener.bind(page.window));
  vi.stubGlobal("document", page.document);
}

describe("a page that goes away or is frozen", () => {
  for (const [event, target] of [
    ["pagehide", "window"],
    ["freeze", "document"],
  ] as const) {
    it(`on ${event}: every handle aborts before the goodbye leaves, the lock passes on at once, and the page can start over`, async () => {
      stubPage();
      const server = await startServer();
      const order: string[] = [];
      const client = await startClient(server.url, { WebSocket: recordingByes(order) });
      const lease = await client.leases.grant(30_000);
      const lock = await client.locks.acquire("lock:page", lease.id);
      lock.signal.addEventListener("abort", () => order.push("aborted"));
      const expired = new Promise((resolve) => client.addEventListener("expired", resolve, { once: true }));
      // Not on this page (it would give up too): in another tab, say.
      const waiter = await startClient(server.url, { pageLifecycle: false });
      const waiting = waiter.locks.acquire("lock:page", (await waiter.leases.grant(30_000)).id, { wait: true });
      const firstSession = client.sessionId;

      page[target].dispatchEvent(new Event(event));
      expect(order).toEqual(["aborted", "bye"]);
      expect(lock.signal.reason).toBeInstanceOf(SessionExpiredError);
      await expired;
      // Granted on the goodbye, long before the 30 s TTL.
      expect((await waiting).acquired).toBe(true);

      // Back (a thaw, or a page restored from the back/forward cache): a new session.
      page[target === "document" ? "document" : "window"].dispatchEvent(event === "freeze" ? new Event("resume") : pageShow(true));
      await vi.waitFor(() => expect(client.connected && client.sessionId !== firstSession).toBe(true), { timeout: 5_000 });
      expect(client.sessionId).toBeDefined();
    });
  }
});

describe("deadlines are checked at once when the page may have been asleep or cut off", () => {
  const events: [string, "window" | "document", () => Event][] = [
    ["visibilitychange", "document", () => new Event("visibilitychange")],
    ["resume", "document", () => new Event("resume")],
    ["pageshow", "window", () => pageShow(false)],
    ["online", "window", () => new Event("online")],
    ["offline", "window", () => new Event("offline")],
  ];
  for (const [name, target, make] of events) {
    it(`on ${name}, before the overdue deadline timer has run`, async () => {
      stubPage();
      const server = await startServer();
      const clock = new FakeClock(performance.now());
      const client = await startClient(server.url, { clock });
      const signal = await overdueLease(client, clock);
      page[target].dispatchEvent(make());
      expect(signal.aborted).toBe(true);
    });
  }

  it("when the socket closes, before the overdue deadline timer has run (and with no reconnect yet)", async () => {
    const server = await startServer();
    const proxy = TcpProxy.forUrl(server.url);
    const proxyUrl = await proxy.start();
    defer(() => proxy.close());
    // Fake time: no timer of the client runs, neither the deadline's nor the redial's.
    const clock = new FakeClock(performance.now());
    const client = await startClient(proxyUrl, { clock });
    const signal = await overdueLease(client, clock);
    const disconnected = new Promise((resolve) => client.addEventListener("disconnected", resolve, { once: true }));
    proxy.cut();
    await disconnected;
    expect(signal.aborted).toBe(true);
  });
});

/** A lease whose deadline time has jumped past without its timer running: the page slept. */
async function overdueLease(client: LeaseholdClient, clock: FakeClock): Promise<AbortSignal> {
  const lease = await client.leases.grant(TTL);
  const signal = lease.signal;
  // Past heardAt + TTL - margin, heardAt being the grant's send time at the latest.
  clock.jump(TTL);
  return signal;
}

function pageShow(persisted: boolean): Event {
  return Object.assign(new Event("pageshow"), { persisted });
}

/** The ws WebSocket, noting in `order` when a `bye` is sent. */
function recordingByes(order: string[]): WebSocketConstructor {
  return class extends WebSocket {
    override send(data: Uint8Array): void {
      const decoded = decodeClientMessage(data);
      if (decoded.ok && decoded.message.op === "bye") order.push("bye");
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}
