import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { repoRoot, startClient, startServer } from "../support/fixtures.js";
import { buildBrowserBundle, buildPageScripts, cspViolations, launchChromium, openPage } from "../support/browser.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let browser: Browser;
let bundle: string;
let pageScripts: string;

beforeAll(async () => {
  if (!existsSync(chromium)) return;
  bundle = buildBrowserBundle();
  pageScripts = buildPageScripts();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

const caption = (page: Page, chart: string) => page.locator(`#${chart} figcaption`).textContent();
/** The number a chart's caption shows for a series ("waiters 3 · ..."). */
async function shown(page: Page, chart: string, series: string): Promise<number> {
  const text = (await caption(page, chart)) ?? "";
  const match = new RegExp(`${series} ([\\d.]+)`).exec(text);
  return match ? Number(match[1]) : Number.NaN;
}
/** Points drawn on a chart's line. */
const points = (page: Page, chart: string, series: string) => page.locator(`#${chart} polyline[data-series="${series}"]`).getAttribute("data-count").then(Number);

describe.skipIf(!existsSync(chromium))("dashboard charts in Chromium", () => {
  it("draws grants/s, waiters, sessions and latency from /metrics with the admin token, and moves them as locks are taken", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts, auth: { tokens: STATIC_TOKENS } });
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${server.port}/?token=${TOKENS.admin}`);
    // The page's own session is the first; its charts fill from the first scrape.
    await vi.waitFor(async () => expect(await shown(page, "chart-sessions", "sessions")).toBe(1), { timeout: 6_000, interval: 100 });
    expect(await shown(page, "chart-waiters", "waiters")).toBe(0);

    const alice = await startClient(server.url, { agent: "alice", auth: TOKENS.tenantA });
    const bob = await startClient(server.url, { agent: "bob", auth: TOKENS.tenantA });
    const aliceLease = await alice.leases.grant(10_000);
    const bobLease = await bob.leases.grant(10_000);
    for (let index = 0; index < 20; index++) await (await alice.locks.acquire(`tenant-a/batch/${index}`, aliceLease.id)).release();
    const first = await alice.locks.acquire("tenant-a/orders", aliceLease.id);
    const waiting = bob.locks.acquire("tenant-a/orders", bobLease.id, { wait: true });

    await vi.waitFor(
      async () => {
        expect(await shown(page, "chart-sessions", "sessions")).toBe(3);
        expect(await shown(page, "chart-waiters", "waiters")).toBe(1);
        expect(await points(page, "chart-grants", "grants/s")).toBeGreaterThanOrEqual(1);
      },
      { timeout: 8_000, interval: 100 },
    );
    // The 21 grants fell in one or two scrape intervals: some point of the line is above zero.
    const grants = await page.locator('#chart-grants polyline[data-series="grants/s"]').getAttribute("points");
    const heights = (grants ?? "").split(" ").map((point) => Number(point.split(",")[1]));
    expect(Math.min(...heights)).toBeLessThan(78);
    expect(await points(page, "chart-latency", "p99")).toBeGreaterThanOrEqual(1);
    expect(await caption(page, "chart-latency")).toMatch(/p50 \d+(\.\d)? (µs|ms)/);

    await first.release();
    const second = await waiting;
    await second.release();
    await vi.waitFor(async () => expect(await shown(page, "chart-waiters", "waiters")).toBe(0), { timeout: 6_000, interval: 100 });

    const artifacts = join(repoRoot, "test/artifacts");
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "dashboard-charts.png"), fullPage: true });
    expect(await cspViolations(page)).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("lists a lock's recent grants, who held it and for how long, in the detail panel", async () => {
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: pageScripts });
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${server.port}/`);
    const alice = await startClient(server.url, { agent: "alice" });
    const bob = await startClient(server.url, { agent: "bob" });
    const aliceLease = await alice.leases.grant(10_000);
    const held = await alice.locks.acquire("orders/7", aliceLease.id);
    const row = page.locator('#locks tr[data-key="orders/7"]');
    await vi.waitFor(async () => expect(await row.count()).toBe(1), { timeout: 3_000, interval: 50 });
    await row.click();
    const waiting = bob.locks.acquire("orders/7", (await bob.leases.grant(10_000)).id, { wait: true });
    await vi.waitFor(async () => expect(await page.locator("#detail").textContent()).toContain("1. bob"), { timeout: 3_000, interval: 50 });
    await held.release();
    const bobs = await waiting;
    await vi.waitFor(
      async () => {
        const detail = (await page.locator("#detail").textContent()) ?? "";
        expect(detail).toMatch(new RegExp(`bob · token ${bobs.token} · holding for \\d`));
        expect(detail).toMatch(new RegExp(`alice · token ${held.token} · held \\d+\\.\\d s`));
        // Newest first.
        expect(detail.indexOf("bob · token")).toBeLessThan(detail.indexOf("alice · token"));
      },
      { timeout: 3_000, interval: 50 },
    );
    await bobs.release();
    await vi.waitFor(async () => expect(await page.locator("#detail").textContent()).toMatch(/now free[\s\S]*bob · token \d+ · held/), { timeout: 3_000, interval: 50 });
    expect(errors).toEqual([]);
  });
});
