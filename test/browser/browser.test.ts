import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { defer, repoRoot, startClient, startServer } from "../support/fixtures.js";
import { createServer as createTcpServer } from "node:net";
import { buildBrowserBundle, buildPageScripts, cspViolations, launchChromium, openPage } from "../support/browser.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { inspectOver } from "../support/inspect.js";

let browser: Browser;
let bundle: string;
let pageScripts: string;

beforeAll(async () => {
  if (!existsSync(process.env.CHROMIUM_PATH ?? "/usr/bin/chromium")) return;
  bundle = buildBrowserBundle();
  pageScripts = buildPageScripts();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

const roleOf = (page: Page) => page.locator("#role").textContent();
const textOf = (page: Page, id: string) => page.locator(`#${id}`).textContent();

async function roles(pages: Page[]): Promise<string[]> {
  return Promise.all(pages.map(async (page) => (await roleOf(page)) ?? ""));
}

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!existsSync(chromium)) console.warn(`browser tests skipped: no Chromium at ${chromium} (apt-get install chromium; .ci/run does)`);

describe.skipIf(!existsSync(chromium))("in Chromium", () => {
  it("imports the browser bundle in a page and acquires and releases a lock, with no console errors", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts });
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${server.port}/healthz`);
    // Passed as source text: the test runner would otherwise rewrite the dynamic import.
    const result = (await page.evaluate(`(async (url) => {
      const { connect } = await import("/leasehold.js");
      const client = await connect(url);
      const lease = await client.leases.grant(5000);
      const lock = await client.locks.acquire("lock:browser", lease.id);
      const token = lock.token;
      const heldOnServer = (await client.leases.timeToLive(lease.id)).locks;
      await lock.release();
      const after = (await client.leases.timeToLive(lease.id)).locks;
      await client.close();
      return { acquired: lock.acquired, token, heldOnServer, after, aborted: lock.signal.aborted };
    })(${JSON.stringify(server.url)})`)) as { acquired: boolean; token: number; heldOnServer: string[]; after: string[]; aborted: boolean };
    expect(result.acquired).toBe(true);
    expect(result.token).toBeGreaterThan(0);
    expect(result.heldOnServer).toEqual(["lock:browser"]);
    expect(result.after).toEqual([]);
    expect(result.aborted).toBe(true);
    expect(errors).toEqual([]);
  });

  it("three demo pages agree on exactly one leader within 2 s", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts });
    const url = `http://127.0.0.1:${server.port}/demo/leader?name=three`;
    const pages = await Promise.all([0, 1, 2].map(async () => (await openPage(browser, url)).page));
    const started = Date.now();
    await vi.waitFor(async () => expect((await roles(pages)).filter((role) => role === "leader")).toHaveLength(1), { timeout: 2_000, interval: 50 });
    expect(Date.now() - started).toBeLessThan(2_000);
    const all = await roles(pages);
    const leader = pages[all.indexOf("leader")]!;
    const leaderId = await textOf(leader, "self");
    expect(all.filter((role) => role === "follower")).toHaveLength(2);
    for (const page of pages) await vi.waitFor(async () => expect(await textOf(page, "leader")).toBe(leaderId), { timeout: 2_000 });
  });

  it("moves leadership within 1 s when the leader's page closes, with one leader at every sample", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts });
    const url = `http://127.0.0.1:${server.port}/demo/leader?name=close`;
    const pages = await Promise.all([0, 1, 2].map(async () => (await openPage(browser, url)).page));
    await vi.waitFor(async () => expect((await roles(pages)).filter((role) => role === "leader")).toHaveLength(1), { timeout: 2_000 });
    const leader = pages[(await roles(pages)).indexOf("leader")]!;
    const others = pages.filter((page) => page !== leader);
    const closedAt = Date.now();
    await leader.close();
    let newLeaderAt = 0;
    while (Date.now() - closedAt < 2_000) {
      const leaders = (await roles(others)).filter((role) => role === "leader").length;
      expect(leaders).toBeLessThanOrEqual(1);
      if (leaders === 1 && newLeaderAt === 0) newLeaderAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(newLeaderAt).toBeGreaterThan(0);
    expect(newLeaderAt - closedAt).toBeLessThan(1_000);
    console.info(`failover after the leader's page closed: a new leader within ${newLeaderAt - closedAt} ms (sampled every 20 ms)`);
  });

  it("a leader page cut off from the server steps down before any other page becomes leader", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts });
    const proxy = TcpProxy.forUrl(server.url);
    const proxyUrl = await proxy.start();
    defer(() => proxy.close());
    // A 3 s lease: with 1.5 s, three Chromium pages starting at once on 2 cores once stalled the first one
    // past its lease before the cut (in CI: both other pages had been leader by the time they were read).
    const base = `http://127.0.0.1:${server.port}/demo/leader?name=cut&ttl=3000`;
    // Served through the proxy, so that the page's own origin (the only one it connects to) is the proxy's.
    const { page: cutOff } = await openPage(browser, `${proxyUrl.replace("ws:", "http:")}/demo/leader?name=cut&ttl=3000`);
    await vi.waitFor(async () => expect(await roleOf(cutOff)).toBe("leader"), { timeout: 2_000 });
    const others = await Promise.all([0, 1].map(async () => (await openPage(browser, base)).page));
    await vi.waitFor(async () => expect(await roles(others)).toEqual(["follower", "follower"]), { timeout: 2_000 });

    proxy.blackhole();
    // What this test holds is the order (below), not how soon another page takes over. With 1.5 s leases that
    // took up to 4.9 s after the cut (a step-down 0.45 to 3.4 s before it), on this build and the one before
    // alike (4 runs each), and once over the 5 s this wait had, in CI.
    await vi.waitFor(async () => expect((await roles(others)).filter((role) => role === "leader")).toHaveLength(1), { timeout: 15_000 });
    type Change = { role: string; at: number };
    const stepDown = (await cutOff.evaluate(() => (window as unknown as { roleLog: Change[] }).roleLog)).find((change) => change.role === "follower");
    const takeOvers = await Promise.all(others.map((page) => page.evaluate(() => (window as unknown as { roleLog: Change[] }).roleLog)));
    const takeOver = takeOvers.flat().find((change) => change.role === "leader");
    expect(stepDown).toBeDefined();
    expect(takeOver).toBeDefined();
    expect(stepDown!.at).toBeLessThan(takeOver!.at);
    console.info(`cut-off leader stepped down ${Math.round(takeOver!.at - stepDown!.at)} ms before another page took over (lease TTL 3000 ms)`);
  });

  it("the dashboard shows a lock with its waiter by client name, updates the same row through grant and release, filters by prefix and keeps the selection", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts });
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${server.port}/`);
    const alice = await startClient(server.url, { agent: "alice" });
    const bob = await startClient(server.url, { agent: "bob" });
    const aliceLease = await alice.leases.grant(10_000);
    const lock = await alice.locks.acquire("orders/1001", aliceLease.id);
    await alice.locks.acquire("stock/7", aliceLease.id);
    await alice.locks.acquire("audit/1", aliceLease.id);
    const waiting = bob.locks.acquire("orders/1001", (await bob.leases.grant(10_000)).id, { wait: true });
    const row = page.locator('#locks tr[data-key="orders/1001"]');
    await vi.waitFor(async () => {
      const text = (await row.textContent()) ?? "";
      expect(text).toContain(`alice · token ${lock.token}`);
      expect(text).toMatch(/1\. bob · \d+\.\d s/);
    }, { timeout: 3_000, interval: 50 });
    const artifacts = join(repoRoot, "test/artifacts");
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true });

    // Select the row and mark its element: a rebuilt table would lose both.
    await row.click();
    await row.evaluate((element) => ((element as unknown as { marked: boolean }).marked = true));
    const sameRow = () => row.evaluate((element) => (element as unknown as { marked?: boolean }).marked === true);
    await expect(textOf(page, "detail")).resolves.toContain("1. bob · session");

    // Sorted by name, then by queue length and by longest wait: the lock with a waiter comes first.
    const order = () => page.locator("#locks tbody tr").evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.key));
    expect(await order()).toEqual(["audit/1", "orders/1001", "stock/7"]);
    for (const sort of ["queue", "wait"]) {
      await page.locator("#sort").selectOption(sort);
      await vi.waitFor(async () => expect(await order()).toEqual(["orders/1001", "audit/1", "stock/7"]), { timeout: 2_000, interval: 50 });
    }

    // Filtering by prefix hides the other lock; the selected row stays the same element.
    await page.locator("#filter").fill("orders/");
    await vi.waitFor(async () => expect(await order()).toEqual(["orders/1001"]), { timeout: 2_000, interval: 50 });
    expect(await sameRow()).toBe(true);

    // Released: bob is granted, in the same row, still selected.
    await lock.release();
    const bobLock = await waiting;
    await vi.waitFor(async () => expect(await row.textContent()).toContain(`bob · token ${bobLock.token}`), { timeout: 2_000, interval: 50 });
    expect(await sameRow()).toBe(true);
    expect(await row.getAttribute("class")).toBe("selected");
    await expect(textOf(page, "detail")).resolves.toContain(`bob · session ${bob.sessionId!.slice(0, 8)}`);

    await bobLock.release();
    await vi.waitFor(async () => expect(await row.count()).toBe(0), { timeout: 2_000, interval: 50 });
    await page.locator("#filter").fill("");
    await vi.waitFor(async () => expect(await page.locator('#locks tr[data-key="stock/7"]').count()).toBe(1), { timeout: 2_000, interval: 50 });
    expect(errors).toEqual([]);
  });

  it("the dashboard shows a lock in its lock-delay, with no holder and the time left counting down, until the delay ends", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts });
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${server.port}/`);
    const alice = await startClient(server.url, { agent: "alice" });
    const lease = await alice.leases.grant(10_000);
    await alice.locks.acquire("printers/1", lease.id, { lockDelayMs: 4_000 });
    const row = page.locator('#locks tr[data-key="printers/1"]');
    await vi.waitFor(async () => expect(await row.textContent()).toContain("alice · token"), { timeout: 3_000, interval: 50 });
    expect(await row.textContent()).not.toContain("lock-delay");

    expect(await alice.admin.forceRelease("printers/1")).toBe(true);
    const left = async () => Number(/in lock-delay · (\d+\.\d) s left/.exec((await row.textContent()) ?? "")?.[1]);
    await vi.waitFor(async () => expect(await left()).toBeGreaterThan(0), { timeout: 3_000, interval: 50 });
    expect(await row.textContent()).not.toContain("alice");
    const first = await left();
    // The countdown is refreshed once a second.
    await vi.waitFor(async () => expect(await left()).toBeLessThan(first), { timeout: 3_000, interval: 100 });
    await row.click();
    await expect(textOf(page, "detail")).resolves.toMatch(/in lock-delay · \d+\.\d s left \(nobody is granted it until then\)/);
    // Once the delay ends the lock is free and forgotten: its row goes.
    await vi.waitFor(async () => expect(await row.count()).toBe(0), { timeout: 10_000, interval: 100 });
    expect(errors).toEqual([]);
  });

  it("the dashboard and the demo work under their CSP with ?token=, which leaves the address bar at once", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts, auth: { tokens: STATIC_TOKENS } });
    const origin = `http://127.0.0.1:${server.port}`;
    const { page: dashboard, errors: dashboardErrors } = await openPage(browser, `${origin}/?token=${TOKENS.admin}`);
    await vi.waitFor(async () => expect(await textOf(dashboard, "meta")).toMatch(/^1 sessions · /), { timeout: 5_000, interval: 50 });
    expect(dashboard.url()).toBe(`${origin}/`);
    const election = "tenant-a/csp";
    const { page: demo, errors: demoErrors } = await openPage(browser, `${origin}/demo/leader?name=${encodeURIComponent(election)}&token=${TOKENS.tenantA}`);
    await vi.waitFor(async () => expect(await roleOf(demo)).toBe("leader"), { timeout: 5_000, interval: 50 });
    expect(demo.url()).toBe(`${origin}/demo/leader?name=${encodeURIComponent(election)}`);
    for (const page of [dashboard, demo]) expect(await cspViolations(page), page.url()).toEqual([]);
    expect([...dashboardErrors, ...demoErrors]).toEqual([]);

    // The policy is in force (so that the empty list above means something): an inline script is blocked and reported.
    const ran = await dashboard.evaluate(`(() => {
      const script = document.createElement("script");
      script.textContent = "window.injected = true";
      document.body.append(script);
      return window.injected === true;
    })()`);
    expect(ran).toBe(false);
    await vi.waitFor(async () => expect(await cspViolations(dashboard)).toEqual(["script-src-elem blocked inline"]), { timeout: 2_000 });
  });

  it("the pages refuse a ?server= on another origin and send nothing there, not even a connection attempt", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts, auth: { tokens: STATIC_TOKENS } });
    const elsewhere = createTcpServer((socket) => {
      attempts += 1;
      socket.destroy();
    });
    let attempts = 0;
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    defer(() => new Promise((resolve) => elsewhere.close(resolve)));
    const foreign = `ws://127.0.0.1:${(elsewhere.address() as { port: number }).port}`;
    const origin = `http://127.0.0.1:${server.port}`;
    const query = `server=${encodeURIComponent(foreign)}&token=${TOKENS.admin}`;
    const { page: dashboard } = await openPage(browser, `${origin}/?${query}`);
    const { page: demo } = await openPage(browser, `${origin}/demo/leader?${query}`);
    for (const [page, id] of [[dashboard, "meta"], [demo, "status"]] as const) {
      await vi.waitFor(async () => expect(await textOf(page, id)).toContain("connects only to the server that served it"), { timeout: 5_000, interval: 50 });
      expect(await textOf(page, id)).toContain(foreign);
      expect(page.url()).not.toContain(TOKENS.admin);
      expect(await cspViolations(page)).toEqual([]);
    }
    expect(attempts).toBe(0);
    expect((await inspectOver(server.url, TOKENS.admin)).sessions).toEqual([]);
  });
});
