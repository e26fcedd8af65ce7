import { setMaxListeners } from "node:events";
import type { LockClient, WaiterPool } from "../adapters/types.js";
import { LockMonitor } from "../metrics/lock-monitor.js";
import type { Subject } from "../systems.js";
import { freshName, withTimeout, Window, type Metrics } from "./common.js";
import { violations } from "./uncontended.js";

export interface QueueDepthParams {
  depth: number;
  /** Grants to time once the queue is full. */
  grants: number;
  /** Upper bound on the timed phase. */
  maxMs: number;
  ttlMs: number;
  /** Connections the waiters share (each waiter still has a lease of its own). */
  connections: number;
}

/** Waiters started per batch while the queue is filled; bounds the requests in flight. */
const FILL_BATCH = 1_000;

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
    const done = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
    await fill(pool, params.depth, (client, index, onQueued) => {
      const loop = waiterLoop(client, index, name, params.ttlMs, stop.signal, onQueued, (result, now) => {
        monitor.granted(index, result, now);
        if (measuring && ++timed >= params.grants) stop.abort();
      }, monitor);
      loops.push(loop);
      return loop;
    });
    const filledS = (performance.now() - fillStarted) / 1000;
    measuring = true;
    const window = new Window(server.pid);
    const windowCap = setTimeout(() => stop.abort(), params.maxMs);
    monitor.releasing(performance.now());
    monitor.released(await holder.release(name), performance.now());
    await done;
    clearTimeout(windowCap);
    const cpu = window.close(timed);
    if (timed === 0) throw new Error(`no grant within ${params.maxMs} ms`);
    const latency = monitor.handoff.summary();
    return {
      depth: params.depth,
      grantP50Ms: latency.p50,
      grantP99Ms: latency.p99,
      grantsPerS: timed / (cpu.elapsedS as number),
      grantsTimed: timed,
      fillS: filledS,
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

/** Starts every waiter, a batch at a time, and returns once all of them are known to be queued. */
async function fill(
  pool: WaiterPool,
  depth: number,
  start: (client: LockClient, index: number, onQueued: () => void) => Promise<void>,
): Promise<void> {
  for (let from = 0; from < depth; from += FILL_BATCH) {
    const queued: Promise<void>[] = [];
    for (let index = from; index < Math.min(depth, from + FILL_BATCH); index++) {
      const client = pool.clients[index] as LockClient;
      let markQueued = () => {};
      queued.push(new Promise<void>((resolve) => (markQueued = resolve)));
      // A loop that ends before it was queued (an error) must not hold up the fill.
      start(client, index, markQueued).then(markQueued, markQueued);
    }
    if (pool.reportsQueued) await withTimeout(Promise.all(queued), 60_000, "waiters to queue");
  }
  if (pool.barrier !== undefined) await withTimeout(pool.barrier(), 60_000, "queue barrier");
}

/** One waiter: wait for the lock, note the grant, release at once, queue again at the tail. */
async function waiterLoop(
  client: LockClient,
  index: number,
  name: string,
  ttlMs: number,
  signal: AbortSignal,
  onQueued: () => void,
  onGrant: (token: number | undefined, now: number) => void,
  monitor: LockMonitor,
): Promise<void> {
  let queued: (() => void) | undefined = onQueued;
  while (!signal.aborted) {
    const result = await client.acquire(name, ttlMs, { wait: true, signal, ...(queued && { onQueued: queued }) });
    queued = undefined;
    if (!result.acquired) return;
    onGrant(result.token, performance.now());
    monitor.releasing(performance.now());
    monitor.released(await client.release(name), performance.now());
  }
}
