import { existsSync, readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defer, startServer } from "../support/fixtures.js";
import { buildBrowserBundle, launchChromium } from "../support/browser.js";
import { TcpProxy } from "../support/tcp-proxy.js";

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let browser: Browser;
let bundle: string;

beforeAll(async () => {
  if (!existsSync(chromium)) return;
  bundle = buildBrowserBundle();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe.skipIf(!existsSync(chromium))("several URLs in Chromium", () => {
  it("skips a dead URL, then moves on to the next URL when the connection is lost, resuming the session there", async () => {
    const server = await startServer();
    const proxy = TcpProxy.forUrl(server.url);
    const viaProxy = await proxy.start();
    defer(() => proxy.close());
    const dead = await deadUrl();
    const context = await browser.newContext();
    defer(() => context.close());
    const page = await context.newPage();
    await page.goto(await servePage(bundle));
    // Passed as source text: the test runner would otherwise rewrite the dynamic import.
    await page.evaluate(`(async (urls) => {
      const { connect } = await import("/leasehold.js");
      const client = await connect(urls);
      const lease = await client.leases.grant(5000);
      const lock = await client.locks.acquire("lock:multi-url", lease.id);
      window.multiUrl = { client, lock, first: client.state, reconnected: new Promise((resolve) => client.addEventListener("reconnected", resolve, { once: true })) };
    })(${JSON.stringify([dead, viaProxy, server.url])})`);
    proxy.cut();
    const result = (await page.evaluate(`(async () => {
      const { client, lock, first, reconnected } = window.multiUrl;
      await reconnected;
      const after = client.state;
      const held = lock.held;
      await client.close();
      return { first, after, held };
    })()`)) as { first: { kind: string; url: string; session: string }; after: { kind: string; url: string; session: string }; held: boolean };
    expect(result.first).toMatchObject({ kind: "open", url: viaProxy });
    expect(result.after).toMatchObject({ kind: "open", url: server.url, session: result.first.session });
    expect(result.held).toBe(true);
  });
});

/**
 * An HTTP server on 127.0.0.1 serving an empty page and the browser bundle, without the leasehold
 * server's `connect-src 'self'`, so that the page may dial several servers. (A page routed by
 * Playwright from a made-up origin counts as public, and Chromium's local network access checks
 * then refuse its sockets to 127.0.0.1.) Returns the page's URL.
 */
async function servePage(bundlePath: string): Promise<string> {
  const bundleText = readFileSync(bundlePath, "utf8");
  const http = createHttpServer((request, response) => {
    if (request.url === "/leasehold.js") response.writeHead(200, { "content-type": "text/javascript" }).end(bundleText);
    else response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>several URLs</title>");
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  defer(() => {
    // The browser keeps its connections alive; they would hold close() open.
    http.closeAllConnections();
    return new Promise((resolve) => http.close(resolve));
  });
  const address = http.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return `http://127.0.0.1:${address.port}/`;
}

/** A ws:// URL on a port of 127.0.0.1 that was free a moment ago and refuses connections now. */
async function deadUrl(): Promise<string> {
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return `ws://127.0.0.1:${address.port}`;
}
