import { createInterface } from "node:readline";
import type { LockClient, LockSystem } from "../adapters/types.js";
import { makeSystem } from "../systems.js";
import type { HolderCommand, HolderConfig, HolderReport } from "./protocol.js";

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
  } catch (error) {
    // A session that connected but could not lock is not counted, so it must not stay open either.
    void client?.close().catch(() => undefined);
    failed++;
    firstError ??= error instanceof Error ? error.message : String(error);
  }
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
  report({ ready: clients.length, failed, ms: performance.now() - started, ...(firstError !== undefined && { firstError }) });
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
    report({ closed: true, lost });
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
