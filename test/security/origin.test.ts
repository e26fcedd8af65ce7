import { existsSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ServerOptions } from "@leasehold/server";
import { defer, startClient, startServer } from "../support/fixtures.js";
import { buildBrowserBundle, buildPageScripts, launchChromium, openPage } from "../support/browser.js";
import { upgradeStatus } from "../support/http-exchange.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";
import { inspectOver } from "../support/inspect.js";

/** Collects log records, to see what the server refused and why. */
function recordingLogger(records: Record<string, unknown>[]): NonNullable<ServerOptions["logger"]> {
  const log = (level: string) => (fields: object, msg?: string) => void records.push({ level, msg, ...fields });
  const logger = { info: log("info"), warn: log("warn"), error: log("error"), debug: log("debug"), fatal: log("fatal"), trace: log("trace") };
  return logger as unknown as NonNullable<ServerOptions["logger"]>;
}

// The allow-list runs against one server and a cluster's follower (test/scenarios/http-refusals.ts, from
// test/security/headers.test.ts); the follower checks origins with the same policy, built from the same flags.
describe("origin checks at the upgrade", () => {
  it("without a list: the server's own origin, loopback pages and non-browser clients; nothing else", async () => {
    const server = await startServer();
    expect(server.security.origins).toBe("same origin and loopback pages");
    expect(await upgradeStatus(server.url, `http://127.0.0.1:${server.port}`)).toBe(101);
    expect(await upgradeStatus(server.url, "http://localhost:3000")).toBe(101);
    expect(await upgradeStatus(server.url, undefined)).toBe(101);
    expect(await upgradeStatus(server.url, "https://evil.example")).toBe(403);
    expect(await upgradeStatus(server.url, "null")).toBe(403);
  });

  it("'*' allows every origin", async () => {
    const server = await startServer({ allowOrigins: ["*"] });
    expect(await upgradeStatus(server.url, "https://anyone.example")).toBe(101);
  });
});

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!existsSync(chromium)) console.warn(`browser security tests skipped: no Chromium at ${chromium}`);

describe.skipIf(!existsSync(chromium))("origin checks in Chromium", () => {
  let browser: Browser;
  let bundle: string;
  let pageScripts: string;

  beforeAll(async () => {
    bundle = buildBrowserBundle();
    pageScripts = buildPageScripts();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Runs `connect` in the page against `url` and reports what happened. */
  function tryConnect(page: import("playwright-core").Page, bundleUrl: string, url: string, auth?: string) {
    return page.evaluate(`(async () => {
      const { connect } = await import(${JSON.stringify(bundleUrl)});
      try {
        const client = await connect(${JSON.stringify(url)}, { autoReconnect: false, auth: ${JSON.stringify(auth)} });
        const lease = await client.leases.grant(5000);
        const lock = await client.locks.acquire("tenant-a/from-page", lease.id);
        await client.close();
        return { connected: true, acquired: lock.acquired };
      } catch (error) {
        return { connected: false, code: error.code };
      }
    })()`) as Promise<{ connected: boolean; acquired?: boolean; code?: string }>;
  }

  it("a page from an origin that is not on the list is refused at the upgrade; a listed page connects", async () => {
    const records: Record<string, unknown>[] = [];
    // The page server: another port of 127.0.0.1, so another origin than the leasehold server's.
    const pages = createHttpServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>other origin</title>");
    });
    await new Promise<void>((resolve) => pages.listen(0, "127.0.0.1", resolve));
    defer(() => new Promise((resolve) => pages.close(resolve)));
    const pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;

    const server = await startServer({
      browserBundlePath: bundle,
      pageScriptsPath: pageScripts,
      auth: { tokens: STATIC_TOKENS },
      logger: recordingLogger(records),
      allowOrigins: ["https://app.example"],
    });
    const listed = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts, auth: { tokens: STATIC_TOKENS }, allowOrigins: [pageOrigin] });
    const bundleUrl = `http://127.0.0.1:${server.port}/leasehold.js`;

    const { page, errors } = await openPage(browser, `${pageOrigin}/`);
    expect(await tryConnect(page, bundleUrl, server.url, TOKENS.tenantA)).toEqual({ connected: false, code: "NOT_CONNECTED" });
    await vi.waitFor(() => expect(records).toContainEqual(expect.objectContaining({ msg: "upgrade refused: origin not allowed", origin: pageOrigin })));
    expect((await inspectOver(server.url, TOKENS.admin)).sessions).toEqual([]);

    // The same page, to a server that lists its origin: connects, authenticates and locks.
    expect(await tryConnect(page, bundleUrl, listed.url, TOKENS.tenantA)).toEqual({ connected: true, acquired: true });
    // The browser reports the refused handshake on its console; nothing else went wrong.
    expect(errors.filter((error) => !error.includes("WebSocket"))).toEqual([]);
  });

  it("the dashboard takes its admin token from ?token=, drops it from the address bar, and shows the state", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts, auth: { tokens: STATIC_TOKENS } });
    const holder = await startClient(server.url, { auth: TOKENS.tenantA });
    const lock = await holder.locks.acquire("tenant-a/dashboard", (await holder.leases.grant(10_000)).id);

    const { page } = await openPage(browser, `http://127.0.0.1:${server.port}/?token=${TOKENS.admin}`);
    const row = page.locator('#locks tr[data-key="tenant-a/dashboard"]');
    await vi.waitFor(async () => expect((await row.textContent()) ?? "").toContain(`token ${lock.token}`), { timeout: 5_000, interval: 100 });
    expect(page.url()).not.toContain(TOKENS.admin);

    const { page: anonymous } = await openPage(browser, `http://127.0.0.1:${server.port}/`);
    await vi.waitFor(async () => expect(await anonymous.locator("#meta").textContent()).toContain("?token="), { timeout: 5_000, interval: 100 });
    const { page: tenant } = await openPage(browser, `http://127.0.0.1:${server.port}/?token=${TOKENS.tenantA}`);
    await vi.waitFor(async () => expect(await tenant.locator("#meta").textContent()).toContain("admin right"), { timeout: 5_000, interval: 100 });
  });
});
