import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { LockClient, WaiterPool } from "../adapters/types.js";
import { cpuMs } from "../infra/procfs.js";
import { LockMonitor } from "../metrics/lock-monitor.js";
import type { Subject } from "../systems.js";
import { freshName, violations, withTimeout, Window, type Metrics } from "./common.js";

export interface QueueDepthParams {
  depth: number;
  /** Grants to time once the queue is full. */
  grants: number;
  /** Upper bound on the timed phase. */
  maxMs: number;
  ttlMs: number;
  /** Connections the waiters share (each waiter still has a lease of its own). */
  connections: number;
  /** Longest wait for the server to go quiet after the queue is filled. */
  settleMaxMs: number;
  /** Called just before the timed window starts and just after it ends (a profiler's start and stop: bench/src/depth-ab.ts). */
  window?: { started(): Promise<void>; ended(closedAt: bigint): Promise<void> };
}

/**
 * Grant latency with `depth` waiters queued on one lock: a holder releases, the head of the queue is
 * granted, releases at once and queues again at the tail, so the queue stays `depth` deep. Each
 * grant is timed from the previous holder's release to the grant. A queue whose cost grows with
 * its length shows here; Redis has no queue, so it is not applicable there.
 */
export async function queueDepth({ system, server }: Subject, params: QueueDepthParams): Promise<Metrics | undefined> {
  if (system.openWaiters === undefined) return undefined;
  const fillStarted = performance.now();
  const pool = await system.openWaiters(params.depth, params.connections);
  const holder = await system.connect();
  const name = freshName("queue");
  const stop = new AbortController();
  // Every waiter listens on this one signal.
  setMaxListeners(Number.POSITIVE_INFINITY, stop.signal);
  const monitor = new LockMonitor(system.fenced);
  const loops: Promise<void>[] = [];
  try {
    const first = await holder.acquire(name, params.ttlMs, { wait: false });
    if (!first.acquired) throw new Error(`${system.name}: the holder could not take a fresh lock`);
    monitor.granted(-1, first.token, performance.now());
    let timed = 0;
    let measuring = false;
    let window: Window | undefined;
    let cpu: Metrics | undefined;
    /** process.hrtime of the window's end (CLOCK_MONOTONIC, as a V8 profile's timestamps): a profile is cut there. */
    let closedAt = 0n;
    // The window's CPU is read at its last grant, before the abort: the abort makes every waiter cancel
    // its wait, and the server's work on those cancels (10,000 at the deepest level) is not a grant's.
    const endWindow = () => {
      if (window !== undefined && cpu === undefined) {
        cpu = window.close(timed);
        closedAt = process.hrtime.bigint();
      }
      stop.abort();
    };
    const done = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
    await fill(pool, params.depth, params.connections, (client, index, onQueued) => {
      const onGrant = (token: number | undefined, now: number) => {
        monitor.granted(index, token, now);
        if (measuring && ++timed >= params.grants) endWindow();
      };
      const loop = waiterLoop(client, { name, ttlMs: params.ttlMs, signal: stop.signal, onQueued, onGrant, monitor });
      loops.push(loop);
      return loop;
    });
    const filledS = (performance.now() - fillStarted) / 1000;
    // etcd goes on catching up the watches created during the fill (those that start at an older
    // revision are synced by a background loop) for a while; grants timed then would measure the fill.
    const settleS = await quiet(server.pid, params.settleMaxMs);
    await params.window?.started();
    measuring = true;
    window = new Window(server.pid);
    const windowCap = setTimeout(endWindow, params.maxMs);
    const release = monitor.releasing(performance.now());
    monitor.released(release, await holder.release(name), performance.now());
    await done;
    clearTimeout(windowCap);
    await params.window?.ended(closedAt);
    if (timed === 0 || cpu === undefined) throw new Error(`no grant within ${params.maxMs} ms`);
    const latency = monitor.handoff.summary();
    return {
      depth: params.depth,
      grantP50Ms: latency.p50,
      grantP99Ms: latency.p99,
      grantsPerS: timed / (cpu.elapsedS as number),
      grantsTimed: timed,
      // From the release call rather than its reply, and the grants seen before the releaser's reply (timed 0).
      fromCallP50Ms: monitor.handoffFromCall.summary().p50,
      grantsBeforeReply: monitor.handoff.sorted().filter((ms) => ms === 0).length,
      fillS: filledS,
      settleS,
      ...cpu,
      ...violations([monitor]),
    };
  } finally {
    stop.abort();
    await withTimeout(Promise.allSettled(loops), 60_000, "waiters to stop").catch(() => undefined);
    await withTimeout(holder.close(), 10_000, "holder close").catch(() => undefined);
    await withTimeout(pool.close(), 120_000, "waiter pool close").catch(() => undefined);
  }
}

/**
 * Starts every waiter, a round at a time, and returns once all of them are known to be queued. A round
 * is one waiter on each connection (the adapters put waiter i on connection i % connections), queued
 * before the next round starts, so that consecutive places in the queue are on different connections
 * at every depth, as they are at 10 waiters: a handoff then crosses connections at every depth. Started
 * a thousand at a time, the waiters of one connection sat side by side in the queue (a server reads a
 * connection's frames together): at 1,000 and 10,000 waiters 19 handoffs in 20 went to the releaser's own
 * connection, the grant in the same read as the release's reply, and the row compared that with
 * handoffs across connections at 10.
 */
async function fill(
  pool: WaiterPool,
  depth: number,
  connections: number,
  start: (client: LockClient, index: number, onQueued: () => void) => Promise<void>,
): Promise<void> {
  const round = Math.max(1, Math.min(depth, connections));
  for (let from = 0; from < depth; from += round) {
    const to = Math.min(depth, from + round);
    const queued: Promise<void>[] = [];
    for (let index = from; index < to; index++) {
      const client = pool.clients[index] as LockClient;
      let markQueued = () => {};
      queued.push(new Promise<void>((resolve) => (markQueued = resolve)));
      // A loop that ends before it was queued (an error) must not hold up the fill.
      start(client, index, markQueued).then(markQueued, markQueued);
    }
    if (pool.reportsQueued) await withTimeout(Promise.all(queued), 60_000, "waiters to queue");
    if (pool.barrier !== undefined) await withTimeout(pool.barrier(from, to), 60_000, "queue barrier");
  }
}

/** Share of one core below which a server counts as quiet. */
const QUIET_CPU_SHARE = 0.2;
const QUIET_WINDOW_MS = 250;

/** Waits until the server used under QUIET_CPU_SHARE of a core over a window, or `maxMs` passed; returns seconds waited. */
async function quiet(pid: number, maxMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < maxMs) {
    const before = cpuMs(pid);
    await sleep(QUIET_WINDOW_MS);
    if (cpuMs(pid) - before < QUIET_WINDOW_MS * QUIET_CPU_SHARE) break;
  }
  return (performance.now() - started) / 1000;
}

interface Waiter {
  name: string;
  ttlMs: number;
  signal: AbortSignal;
  /** Called once, when the first wait is known to be queued. */
  onQueued: () => void;
  onGrant: (token: number | undefined, now: number) => void;
  monitor: LockMonitor;
}

/** One waiter: wait for the lock, note the grant, release at once, queue again at the tail. */
async function waiterLoop(client: LockClient, waiter: Waiter): Promise<void> {
  const { name, ttlMs, signal, onGrant, monitor } = waiter;
  let queued: (() => void) | undefined = waiter.onQueued;
  while (!signal.aborted) {
    const result = await client.acquire(name, ttlMs, { wait: true, signal, ...(queued && { onQueued: queued }) });
    queued = undefined;
    if (!result.acquired) return;
    onGrant(result.token, performance.now());
    const release = monitor.releasing(performance.now());
    monitor.released(release, await client.release(name), performance.now());
  }
}
