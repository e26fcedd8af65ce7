import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import type { LockClient, LockSystem } from "../adapters/types.js";
import { makeSystem } from "../systems.js";
import type { HolderCommand, HolderConfig, HolderReport, HolderStalls } from "./protocol.js";

/**
 * A child process that opens idle sessions, each holding one lock under a kept-alive lease, and
 * keeps them open until told to stop. It runs apart from the harness so that the clients' file
 * descriptors, memory and CPU are their own, and so that its file limit can be raised at spawn.
 *
 * Exits when its stdin closes, so a harness that dies takes its holders with it.
 */

const config = JSON.parse(process.argv[2] ?? "{}") as HolderConfig;
let system: LockSystem | undefined;
const clients: { client: LockClient; name: string }[] = [];
let failed = 0;
let firstError: string | undefined;
let closing: Promise<void> | undefined;
/** Locks lost before their release, by reason (numbers and names blanked so that alike reasons count together). */
const lostBy = new Map<string, number>();
let firstLossMs: number | undefined;
let lastLossMs: number | undefined;
const bornAt = performance.now();
// This process's own stalls: a holder too busy to answer its pings in time loses its leases by its own deadline.
const lag = monitorEventLoopDelay({ resolution: 20 });
lag.enable();
/** Stalls over STALL_MS: when (ms after start), how long, and how many sessions were open then. */
const longStalls: { atMs: number; ms: number; open: number }[] = [];
const STALL_MS = 2_000;
let expectedTick = performance.now() + 250;
setInterval(() => {
  const now = performance.now();
  if (now - expectedTick > STALL_MS && longStalls.length < 20) longStalls.push({ atMs: Math.round(now - bornAt), ms: Math.round(now - expectedTick), open: clients.length });
  expectedTick = now + 250;
}, 250).unref();

function report(message: HolderReport): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function openOne(target: LockSystem, index: number): Promise<void> {
  const localAddress = config.localAddresses.length > 0 ? config.localAddresses[index % config.localAddresses.length] : undefined;
  let client: LockClient | undefined;
  try {
    client = await target.connect(localAddress === undefined ? {} : { localAddress });
    const name = `bench:session:${config.holderId}:${index}`;
    const lock = await client.acquire(name, config.ttlMs, { wait: false });
    if (!lock.acquired) throw new Error(`session ${index} could not take its own lock`);
    clients.push({ client, name });
    client.onLost?.(name, noteLoss);
  } catch (error) {
    // A session that connected but could not lock is not counted, so it must not stay open either.
    void client?.close().catch(() => undefined);
    failed++;
    firstError ??= error instanceof Error ? error.message : String(error);
  }
}

function noteLoss(reason: string): void {
  // A loss seen while the holder releases everything (a stall of its own then, past the lease's deadline) is told apart.
  const key = `${closing === undefined ? "" : "while closing: "}${reason.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, "N")}`;
  lostBy.set(key, (lostBy.get(key) ?? 0) + 1);
  const atMs = performance.now() - bornAt;
  firstLossMs ??= atMs;
  lastLossMs = atMs;
}

async function grow(target: number, url: string): Promise<void> {
  const started = performance.now();
  const to = (system ??= makeSystem(config.system, url));
  let next = clients.length + failed;
  // Too many failures means the system or the machine refuses: stop early rather than loop.
  const giveUpAt = Math.max(10, Math.ceil(target * 0.01));
  const worker = async () => {
    while (next < target && failed < giveUpAt) await openOne(to, next++);
  };
  await Promise.all(Array.from({ length: config.concurrency }, worker));
  report({ ready: clients.length, failed, ms: performance.now() - started, ...(firstError !== undefined && { firstError }), ...stalls() });
}

function closeAll(): Promise<void> {
  closing ??= (async () => {
    const all = clients.splice(0);
    let next = 0;
    // Each lock is released before its session closes: a release that finds the lock gone means
    // the session lost it (its lease expired) while it sat idle.
    let lost = 0;
    const worker = async () => {
      while (next < all.length) {
        const held = all[next++];
        if (held === undefined) continue;
        const stillHeld = await held.client.release(held.name).catch(() => false);
        if (!stillHeld) lost++;
        await held.client.close().catch(() => undefined);
      }
    };
    await Promise.race([Promise.all(Array.from({ length: 256 }, worker)), new Promise((resolve) => setTimeout(resolve, 30_000))]);
    report({ closed: true, lost, ...stalls(), ...(lostBy.size > 0 && { lostBy: Object.fromEntries(lostBy), firstLossMs, lastLossMs }) });
    process.exit(0);
  })();
  return closing;
}

const input = createInterface({ input: process.stdin });
let queue = Promise.resolve();
input.on("line", (line) => {
  let command: HolderCommand;
  try {
    command = JSON.parse(line) as HolderCommand;
  } catch {
    return;
  }
  queue = queue.then(() => ("grow" in command ? grow(command.grow, command.url) : closeAll())).catch((error: unknown) => {
    report({ error: error instanceof Error ? error.message : String(error) });
  });
});
input.on("close", () => void closeAll());
report({ ready: 0, failed: 0, ms: 0 });

/** The longest stall of this process so far and its 99th percentile, in ms. */
function stalls(): HolderStalls {
  return { maxLagMs: Math.round(lag.max / 1e6), p99LagMs: Math.round(lag.percentile(99) / 1e6), ...(longStalls.length > 0 && { longStalls }) };
}
