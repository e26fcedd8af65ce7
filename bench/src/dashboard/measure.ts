/**
 * The dashboard at scale, in real Chromium: the longest main-thread task (PerformanceObserver
 * "longtask", tasks over 50 ms) and the page's round-trip time while the dashboard shows 500 locks
 * with 200 waiters and 5,000 locks with 2,000 waiters, with locks changing hands all the while.
 *
 *   node --import tsx bench/src/dashboard/measure.ts [--seconds=10] [--churn=40]
 *
 * Builds the browser bundle and the pages' scripts into temp dirs, starts a leasehold server in this
 * process, fills it, opens the dashboard and, in the page, times a small request every 100 ms on a
 * second connection (it waits for whatever the dashboard keeps the main thread busy with). Prints a
 * Markdown table.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Page } from "playwright-core";
import { connect, type LeaseholdClient, type Lock } from "@leasehold/client";
import { createServer, type LeaseholdServer } from "@leasehold/server";
import { toolArgs } from "../infra/args.js";

interface Scale {
  locks: number;
  waiters: number;
}

interface Figures extends Scale {
  /** From navigation until the page shows the whole state ("live"). */
  firstRenderMs: number;
  /** Longest task from navigation until then (loading the bundle, the snapshot). */
  longestLoadingTaskMs: number;
  longestTaskMs: number;
  longTasks: number;
  /** Share of the window spent in long tasks. */
  busyPercent: number;
  rtt: { p50: number; p95: number; max: number; samples: number };
  changesPerSecond: number;
}

const SCALES: Scale[] = [
  { locks: 500, waiters: 200 },
  { locks: 5_000, waiters: 2_000 },
];
const HOLDER_CLIENTS = 10;
const WAITER_CLIENTS = 20;

const args = toolArgs();
const windowSeconds = Number(args.get("seconds") ?? 10);
/** Locks released and taken again per second during the window (each is two or more changes). */
const churnPerSecond = Number(args.get("churn") ?? 40);

const bundle = buildBundle();
const pages = buildPageScripts();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const results: Figures[] = [];
try {
  for (const scale of SCALES) results.push(await measure(scale));
} finally {
  await browser.close();
}
console.log(report(results));

async function measure(scale: Scale): Promise<Figures> {
  const server = await createServer({ host: "127.0.0.1", port: 0, browserBundlePath: bundle, pageScriptsPath: pages });
  const clients: LeaseholdClient[] = [];
  try {
    const names = Array.from({ length: scale.locks }, (_, index) => `orders/${String(index).padStart(5, "0")}`);
    const holders = await Promise.all(Array.from({ length: HOLDER_CLIENTS }, (_, index) => connect(server.url, { agent: `worker-${index}` })));
    const waiters = await Promise.all(Array.from({ length: WAITER_CLIENTS }, (_, index) => connect(server.url, { agent: `consumer-${index}` })));
    clients.push(...holders, ...waiters);
    const holderLeases = await Promise.all(holders.map((client) => client.leases.grant(60_000)));
    const held: (Lock | undefined)[] = await Promise.all(names.map((name, index) => holders[index % HOLDER_CLIENTS]!.locks.acquire(name, holderLeases[index % HOLDER_CLIENTS]!.id)));
    const waiterLeases = await Promise.all(waiters.map((client) => client.leases.grant(60_000)));
    // Queues of uneven length: waiter i queues on lock (i*i) mod 1/4 of the locks, so some queues are long.
    for (let index = 0; index < scale.waiters; index++) {
      const lock = names[(index * index) % Math.ceil(scale.locks / 4)]!;
      void waiters[index % WAITER_CLIENTS]!.locks.acquire(lock, waiterLeases[index % WAITER_CLIENTS]!.id, { wait: true }).catch(() => {});
    }
    while (countWaiters(server) < scale.waiters) await sleep(20);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(() => {
      const tasks: { start: number; duration: number }[] = [];
      (window as unknown as { longTasks: typeof tasks }).longTasks = tasks;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) tasks.push({ start: entry.startTime, duration: entry.duration });
      }).observe({ type: "longtask", buffered: true });
    });
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.waitForFunction(() => document.getElementById("meta")?.textContent?.endsWith("· live"), undefined, { timeout: 60_000, polling: 20 });
    const firstRenderMs = await page.evaluate(() => performance.now());
    const windowStart = await page.evaluate(() => performance.now());

    // Locks change hands during the window: a holder releases one and takes it again (its waiters go first).
    let changes = 0;
    const churn = setInterval(() => {
      const index = Math.floor(Math.random() * (scale.locks / 4 + 1)) % scale.locks;
      const lock = held[index];
      if (!lock) return;
      held[index] = undefined;
      const client = holders[index % HOLDER_CLIENTS]!;
      void lock
        .release()
        .then(() => client.locks.acquire(names[index]!, holderLeases[index % HOLDER_CLIENTS]!.id, { wait: true }))
        .then((again) => {
          held[index] = again;
          changes += 2;
        })
        .catch(() => {});
    }, 1_000 / churnPerSecond);
    const rtt = await roundTrips(page, windowSeconds);
    clearInterval(churn);
    const windowEnd = await page.evaluate(() => performance.now());
    const everyTask = await page.evaluate(() => (window as unknown as { longTasks: { start: number; duration: number }[] }).longTasks);
    const tasks = everyTask.filter((task) => task.start >= windowStart);
    const loading = everyTask.filter((task) => task.start < windowStart).map((task) => task.duration);
    await context.close();
    if (process.env.DEBUG_TASKS) console.error(JSON.stringify(tasks.map((task) => [Math.round(task.start - windowStart), Math.round(task.duration)])));
    const busy = tasks.reduce((sum, task) => sum + task.duration, 0);
    const allTasks = tasks.map((task) => task.duration);
    return {
      ...scale,
      firstRenderMs,
      longestLoadingTaskMs: loading.length > 0 ? Math.max(...loading) : 0,
      longestTaskMs: allTasks.length > 0 ? Math.max(...allTasks) : 0,
      longTasks: tasks.length,
      busyPercent: (100 * busy) / (windowEnd - windowStart),
      rtt,
      changesPerSecond: changes / windowSeconds,
    };
  } finally {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await server.close();
  }
}

/** In the page: a request every 100 ms on a connection of its own, timed from send to answer. */
async function roundTrips(page: Page, seconds: number): Promise<Figures["rtt"]> {
  const samples = await page.evaluate(async (ms) => {
    const bundleUrl = "/leasehold.js";
    const { connect } = (await import(bundleUrl)) as { connect(url: string, options: object): Promise<{ counters: { get(name: string): Promise<number> }; close(): Promise<void> }> };
    const client = await connect("ws://" + location.host, { agent: "rtt-probe" });
    const times: number[] = [];
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const start = performance.now();
      await client.counters.get("probe");
      times.push(performance.now() - start);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await client.close();
    return times;
  }, seconds * 1_000);
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? 0, samples: sorted.length };
}

function countWaiters(server: LeaseholdServer): number {
  let total = 0;
  for (const entry of server.coordinator.locks.entries()) total += entry.queue.size;
  return total;
}

function buildBundle(): string {
  const outfile = join(mkdtempSync(join(tmpdir(), "leasehold-bundle-")), "leasehold.js");
  const script = fileURLToPath(new URL("../../../packages/client/scripts/bundle.mjs", import.meta.url));
  execFileSync(process.execPath, [script, outfile], { stdio: "ignore" });
  return outfile;
}

function buildPageScripts(): string {
  const outdir = mkdtempSync(join(tmpdir(), "leasehold-pages-"));
  const script = fileURLToPath(new URL("../../../packages/client/scripts/bundle-pages.mjs", import.meta.url));
  execFileSync(process.execPath, [script, outdir], { stdio: "ignore" });
  return outdir;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function report(rows: Figures[]): string {
  const ms = (value: number) => `${Math.round(value)} ms`;
  return [
    `Dashboard in Chromium (${process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"}), ${windowSeconds} s window, locks changing hands during it:`,
    "",
    "| locks | waiters | whole state shown after | longest task while loading | longest task after | long tasks | main thread in long tasks | round trip p50 | p95 | max | changes/s |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) =>
      [
        row.locks.toLocaleString("en"),
        row.waiters.toLocaleString("en"),
        ms(row.firstRenderMs),
        row.longestLoadingTaskMs === 0 ? "none over 50 ms" : ms(row.longestLoadingTaskMs),
        row.longTasks === 0 ? "none over 50 ms" : ms(row.longestTaskMs),
        String(row.longTasks),
        `${row.busyPercent.toFixed(1)}%`,
        ms(row.rtt.p50),
        ms(row.rtt.p95),
        ms(row.rtt.max),
        String(Math.round(row.changesPerSecond)),
      ].join(" | "),
    ).map((line) => `| ${line} |`),
  ].join("\n");
}
