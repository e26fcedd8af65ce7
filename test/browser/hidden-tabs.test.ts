import { existsSync, readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { LeaseholdServer } from "@leasehold/server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { defer, startServer } from "../support/fixtures.js";
import { buildBrowserBundle } from "../support/browser.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { eventsOf, firstAt, openHarnessTab, RealTabs, type TabEvent } from "../support/tabs.js";

/**
 * Loss is told first in tabs that are really in the background (issue 17): hidden and throttled,
 * hidden long enough for intensive throttling, frozen, and going away. Every timestamp is taken in
 * a page, on the clock all tabs of one browser share (performance.timeOrigin + performance.now()).
 */

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Runs per scenario; the issue asks 20 (LEASEHOLD_TAB_RUNS=20), the suite does 10 to keep its time down. */
const RUNS = Number(process.env.LEASEHOLD_TAB_RUNS ?? 10);
/** Runs after intensive throttling set in: one at a time, ~13 s each, so 3 unless asked for more. */
const INTENSIVE_RUNS = Number(process.env.LEASEHOLD_TAB_RUNS ?? 3);
/** Pairs of tabs at once: the runs are independent (one election and one proxy each). */
const BATCH = 5;
/** Short, so that a run takes ~2 s; the client's margin is then 5% of it, 100 ms. */
const TTL = 2_000;
/**
 * The waiting tab's lease, which no check is about: long, so that only the leader's lease can lapse. A hidden
 * tab's renderer runs its main thread at nice 5 (its timer worker at 0), and with a 2 s lease a starved main thread
 * that answers a ping 900 ms late gives the lease up, as it must: its candidacy ended with it, and the other tab
 * was never granted (the browser tier at a load of 14, the first scenario, one run of ten waited out its 10 s).
 */
const FOLLOWER_TTL = 30_000;

let tabs: RealTabs;
let bundle: string;

beforeAll(async () => {
  if (!existsSync(chromium)) return;
  bundle = buildBrowserBundle();
  tabs = await RealTabs.launch();
}, 30_000);
afterAll(async () => {
  await tabs?.close();
});

describe.skipIf(!existsSync(chromium))("hidden, frozen and closing tabs (real Chromium background tabs)", () => {
  it(`a hidden leader cut off from the server steps down before another tab is granted, in each of ${RUNS} runs`, async () => {
    const server = await startServer({ browserBundlePath: bundle });
    const results = await cutHiddenLeaders(server, "hidden", false);
    report("hidden (1 s timer steps)", results);
    for (const result of results) {
      expect(result.visibility).toBe("hidden");
      // Three chained 10 ms timers take ~30 ms in a visible tab; hidden, each waits for the next 1 s step.
      expect(result.plainTimerMs).toBeGreaterThan(900);
    }
    for (const result of results) expect(result.abortedAt, `run ${result.run}: aborted ${result.abortedAt}, other granted ${result.grantedAt}`).toBeLessThan(result.grantedAt);
  }, 120_000);

  it(`so does one hidden past intensive throttling's grace period (wake-ups once a minute), in each of ${INTENSIVE_RUNS} runs`, async () => {
    const server = await startServer({ browserBundlePath: bundle });
    const results = await cutHiddenLeaders(server, "intensive", true);
    report("hidden past the 10 s grace period (1 min wake-ups)", results);
    for (const result of results) {
      expect(result.visibility).toBe("hidden");
      // A 50 ms timer chain held back longer than 1 s steps allow: intensive throttling is on.
      expect(result.chainSilenceMs).toBeGreaterThan(1_500);
    }
    for (const result of results) expect(result.abortedAt, `run ${result.run}: aborted ${result.abortedAt}, other granted ${result.grantedAt}`).toBeLessThan(result.grantedAt);
  }, Math.max(60_000, INTENSIVE_RUNS * 30_000));

  for (const reachable of [true, false]) {
    for (const pageLifecycle of [true, false]) {
      const where = reachable ? "the server reachable" : "the server unreachable";
      const how = pageLifecycle ? "giving up on freeze" : "pageLifecycle off: the deadline checked on read";
      it(`a frozen leader thawed after another took over never reads leading === true (${where}; ${how})`, async () => {
        const server = await startServer({ browserBundlePath: bundle });
        const results = await inBatches(BATCH, (run) => freezeLeader(server, `frozen-${reachable}-${pageLifecycle}-${run}`, reachable, pageLifecycle));
        for (const { leaderEvents, grantedAt, run } of results) {
          const resumed = leaderEvents.find((event) => event.event === "resumed");
          expect(resumed, `run ${run}: no resume event`).toBeDefined();
          expect(resumed!.leading, `run ${run}: read leading === true in its resume handler`).toBe(false);
          const readsAfter = leaderEvents.filter((event) => event.leading !== undefined && event.at >= grantedAt);
          expect(readsAfter.length).toBeGreaterThan(0);
          expect(readsAfter.filter((event) => event.leading), `run ${run}`).toEqual([]);
          // Giving up on freeze tells the old leader before the other tab is granted.
          if (pageLifecycle) expect(firstAt(leaderEvents, "aborted")!).toBeLessThan(grantedAt);
        }
        if (reachable && pageLifecycle) {
          // On resume the frozen tab reconnects (with a new session): it can campaign again.
          for (const { leader } of results) await vi.waitFor(async () => expect(await leader.evaluate("window.client.connected")).toBe(true), { timeout: 5_000 });
        }
      }, 60_000);
    }
  }

  it("a page whose Content-Security-Policy forbids the timer worker is told so: a throttled event, the reason, a console warning", async () => {
    const server = await startServer({ browserBundlePath: bundle });
    // A site of its own whose pages forbid workers, serving the bundle as any site may.
    const site = createHttpServer((request, response) => {
      if (request.url === "/leasehold.js") {
        response.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(bundle));
        return;
      }
      response.writeHead(200, { "content-type": "text/html", "content-security-policy": "worker-src 'none'" }).end("<!doctype html><title>strict</title>");
    });
    await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
    defer(() => {
      site.closeAllConnections();
      return new Promise((resolve) => site.close(resolve));
    });
    const page = await tabs.context.newPage();
    defer(() => page.close());
    const warnings: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "warning") warnings.push(message.text());
    });
    await page.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/strict`);
    const outcome = (await page.evaluate(`(async (url) => {
      const { connect } = await import("/leasehold.js");
      const client = await connect(url);
      const event = client.throttled ?? (await new Promise((resolve) => client.addEventListener("throttled", (e) => resolve(e.detail.reason), { once: true })));
      const lease = await client.leases.grant(1000);
      const lock = await client.locks.acquire("lock:strict", lease.id);
      const held = lock.held;
      await client.close();
      return { event, throttled: client.throttled, held };
    })(${JSON.stringify(server.url)})`)) as { event: string; throttled: string; held: boolean };
    expect(outcome.event).toMatch(/timer worker/);
    expect(outcome.throttled).toBe(outcome.event);
    // The client goes on working with the page's own timers.
    expect(outcome.held).toBe(true);
    expect(warnings.filter((text) => text.includes("worker-src blob:"))).toHaveLength(1);
  });

  for (const how of ["navigation", "close"] as const) {
    it(`ten hand-overs by ${how}: the old tab's signal aborts before the new leader is granted, every time`, async () => {
      const server = await startServer({ browserBundlePath: bundle });
      const results = await inBatches(10, (run) => handOver(server, `${how}-${run}`, how));
      const leads = results.map((result) => result.grantedAt - result.abortedAt);
      console.info(`hand-over by ${how}: old tab aborted ${fmt(Math.min(...leads))}-${fmt(Math.max(...leads))} ms before the new leader was granted (10 runs)`);
      for (const result of results) expect(result.abortedAt, `run ${result.run}`).toBeLessThan(result.grantedAt);
    }, 60_000);
  }
});

interface CutResult {
  run: number;
  visibility: string;
  plainTimerMs: number;
  chainSilenceMs: number;
  abortedAt: number;
  grantedAt: number;
}

/**
 * Pairs of tabs, `BATCH` at a time: one leader campaigning through a proxy, one follower waiting,
 * all hidden (with `intensive`, until intensive throttling holds the leader's timer chain back);
 * then each proxy swallows every byte, as a network gone silent does.
 */
async function cutHiddenLeaders(server: LeaseholdServer, prefix: string, intensive: boolean): Promise<CutResult[]> {
  const results: CutResult[] = [];
  const count = intensive ? INTENSIVE_RUNS : RUNS;
  // One pair at a time when waiting for intensive throttling: with ten tabs open, Chromium applied it to one of them in 25 s.
  const batch = intensive ? 1 : BATCH;
  for (let start = 0; start < count; start += batch) {
    const runs = Array.from({ length: Math.min(batch, count - start) }, (_, offset) => start + offset);
    const pairs = await Promise.all(runs.map((run) => leaderAndFollower(server, `${prefix}-${run}`)));
    // Hidden only once every tab of the batch is open: opening a tab restarts the grace period of intensive throttling for all.
    await tabs.hideAll();
    // Measured 8-12 s after hiding (a 10 s grace period; Chromium checks it on its own schedule).
    if (intensive) {
      for (const { leader } of pairs) {
        await vi.waitFor(async () => expect(await leader.page.evaluate("chainSilence()")).toBeGreaterThan(1_500), { timeout: 40_000, interval: 250 });
      }
    }
    results.push(...(await Promise.all(pairs.map((pair, index) => cutLeader(pair, start + index)))));
  }
  return results;
}

async function leaderAndFollower(server: LeaseholdServer, name: string) {
  const proxy = TcpProxy.forUrl(server.url);
  const proxyUrl = await proxy.start();
  defer(() => proxy.close());
  const leader = await openHarnessTab(tabs, proxyUrl, name, TTL);
  await vi.waitFor(async () => expect(firstAt(await eventsOf(leader.page), "granted")).toBeDefined(), { timeout: 5_000 });
  const follower = await openHarnessTab(tabs, server.url, name, FOLLOWER_TTL);
  defer(() => Promise.all([leader.page.close(), follower.page.close()]));
  await leader.page.evaluate("chain()");
  return { proxy, leader, follower };
}

async function cutLeader({ proxy, leader, follower }: Awaited<ReturnType<typeof leaderAndFollower>>, run: number): Promise<CutResult> {
  const visibility = (await leader.page.evaluate("document.visibilityState")) as string;
  const plainTimerMs = (await leader.page.evaluate("timerProbe()")) as number;
  // Cut at any phase of the heartbeat.
  await new Promise((resolve) => setTimeout(resolve, Math.random() * (TTL / 3)));
  proxy.blackhole();
  const silenceAtCut = (await leader.page.evaluate("chainSilence()")) as number;
  let grantedAt = 0;
  const cutAt = (await leader.page.evaluate("at()")) as number;
  await vi.waitFor(
    async () => {
      const followerEvents = await eventsOf(follower.page);
      grantedAt = firstAt(followerEvents, "granted") ?? 0;
      expect(grantedAt, `run ${run}: the other tab not granted since the cut at ${cutAt}; its events: ${JSON.stringify(followerEvents)}`).toBeGreaterThan(0);
    },
    { timeout: 10_000, interval: 50 },
  );
  const silenceAtGrant = (await leader.page.evaluate("chainSilence()")) as number;
  // Aborted before the grant, or (the failure this catches) up to a minute after it.
  const leaderEvents = await eventsOf(leader.page);
  expect(leaderEvents.filter((event) => event.event === "throttled")).toEqual([]);
  // Closed now: open tabs keep Chromium from throttling the next batch intensively.
  await Promise.all([leader.page.close(), follower.page.close()]);
  return {
    run,
    visibility,
    plainTimerMs,
    chainSilenceMs: Math.max(silenceAtCut, silenceAtGrant),
    abortedAt: firstAt(leaderEvents, "aborted") ?? Number.POSITIVE_INFINITY,
    grantedAt,
  };
}

/** A hidden leader frozen until the other tab leads, optionally cut off, then thawed. */
async function freezeLeader(server: LeaseholdServer, name: string, reachable: boolean, pageLifecycle: boolean) {
  const proxy = TcpProxy.forUrl(server.url);
  const proxyUrl = await proxy.start();
  defer(() => proxy.close());
  const leader = await openHarnessTab(tabs, proxyUrl, name, TTL, { pageLifecycle });
  await vi.waitFor(async () => expect(firstAt(await eventsOf(leader.page), "granted")).toBeDefined(), { timeout: 5_000 });
  const follower = await openHarnessTab(tabs, server.url, name, FOLLOWER_TTL);
  defer(() => Promise.all([leader.page.close(), follower.page.close()]));
  // The first reads after the thaw: in a resume handler (it runs before anything else the page does) and every 5 ms.
  await leader.page.evaluate(`
    document.addEventListener("resume", () => record("resumed", { leading: window.term.leading }));
    setInterval(() => record("sample", { leading: window.term.leading }), 5);
  `);
  await tabs.hideAll();
  await tabs.setLifecycle(leader.page, "frozen");
  let grantedAt = 0;
  await vi.waitFor(async () => expect((grantedAt = firstAt(await eventsOf(follower.page), "granted") ?? 0)).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
  if (!reachable) proxy.blackhole();
  await tabs.setLifecycle(leader.page, "active");
  await vi.waitFor(async () => expect((await eventsOf(leader.page)).some((event) => event.event === "sample" && event.at > grantedAt)).toBe(true), {
    timeout: 5_000,
  });
  return { run: Number(name.split("-").pop()), leader: leader.page, leaderEvents: await eventsOf(leader.page), grantedAt };
}

/** The leader tab navigates away or closes; the waiting tab takes over. */
async function handOver(server: LeaseholdServer, name: string, how: "navigation" | "close") {
  const base = `http://127.0.0.1:${server.port}`;
  // A long TTL: only the goodbye can hand over within the test's time.
  const leader = await openHarnessTab(tabs, server.url, name, 30_000);
  await vi.waitFor(async () => expect(firstAt(await eventsOf(leader.page), "granted")).toBeDefined(), { timeout: 5_000 });
  const follower = await openHarnessTab(tabs, server.url, name, 30_000);
  defer(() => Promise.all([leader.page.close(), follower.page.close()]));
  if (how === "navigation") await leader.page.goto(`${base}/healthz?left`);
  else await leader.page.close({ runBeforeUnload: false });
  let grantedAt = 0;
  await vi.waitFor(async () => expect((grantedAt = firstAt(await eventsOf(follower.page), "granted") ?? 0)).toBeGreaterThan(0), { timeout: 5_000, interval: 20 });
  // The old tab's record outlives it in localStorage, which every tab of the origin shares.
  const leaderEvents: TabEvent[] = await eventsOf(follower.page, leader.tab);
  return { run: Number(name.split("-").pop()), abortedAt: firstAt(leaderEvents, "aborted") ?? Number.POSITIVE_INFINITY, grantedAt };
}

/** Runs `count` independent runs, `BATCH` at a time. */
async function inBatches<T>(count: number, run: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += BATCH) {
    const indexes = Array.from({ length: Math.min(BATCH, count - start) }, (_, offset) => start + offset);
    results.push(...(await Promise.all(indexes.map(run))));
  }
  return results;
}

function report(scenario: string, results: CutResult[]): void {
  const leads = results.map((result) => result.grantedAt - result.abortedAt).sort((a, b) => a - b);
  const median = leads[Math.floor(leads.length / 2)] ?? Number.NaN;
  console.info(
    `${scenario}, TTL ${TTL} ms: the old leader stepped down ${fmt(leads[0] ?? Number.NaN)}-${fmt(leads.at(-1) ?? Number.NaN)} ms (median ${fmt(median)}) ` +
      `before the other tab was granted, ${results.length} runs; plain 3×10 ms timers took ${fmt(Math.min(...results.map((result) => result.plainTimerMs)))}+ ms`,
  );
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? String(Math.round(ms)) : String(ms);
}
