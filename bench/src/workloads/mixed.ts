import { setMaxListeners } from "node:events";
import { seededRandom } from "../../../test/support/seeded-random.js";
import type { LockClient } from "../adapters/types.js";
import { CycleTally } from "../metrics/cycle-tally.js";
import { LockMonitor } from "../metrics/lock-monitor.js";
import type { Subject } from "../systems.js";
import { closeMany, connectMany, freshName, startCounters, violations, Window, type Metrics } from "./common.js";

export interface MixedParams {
  clients: number;
  /** Locks the clients spread over, each cycle on one drawn at random. */
  names: number;
  /** Writes per cycle, each fenced by the grant's token on a system that has tokens. */
  puts: number;
  valueBytes: number;
  warmupMs: number;
  durationMs: number;
  ttlMs: number;
}

/**
 * What an application does with a lock service: every client loops "waiting acquire on one of
 * `names` locks, `puts` writes fenced by the grant's token, release". Systems with tokens write with
 * their fenced write (leasehold's `fence`, etcd's owner-guarded txn, redis-fenced's checked script);
 * plain Redis writes unguarded, as its users do. Safety is checked per lock as in the other rows,
 * and a fenced write refused is counted apart (each is a lock lost while its holder still worked).
 * After the window, a probe checks that the fence is real: a write with the previous grant's token
 * must be refused (a row whose fenced puts are never refused proves nothing without it).
 */
export async function mixed(target: Subject, params: MixedParams): Promise<Metrics> {
  const { system, server } = target;
  const clients = await connectMany(system, params.clients);
  try {
    const prefix = freshName("mixed");
    const round = (durationMs: number, onStop: (tally: CycleTally) => void) => runRound(clients, prefix, system.fenced, params, durationMs, onStop);
    await round(params.warmupMs, () => undefined);
    const counters = await startCounters(target);
    const window = new Window(server.pid);
    let cpu: Metrics = {};
    // CPU and elapsed time are read when the window closes: the cycles still in flight then are not counted.
    const { tally, monitors } = await round(params.durationMs, (atStop) => (cpu = window.close(atStop.cycles)));
    const ownCounters = await counters(tally.cycles);
    const probe = system.fenced ? await staleFenceAccepted(clients[0] as LockClient, `${prefix}:probe`, params.ttlMs) : 0;
    return {
      cyclesPerS: tally.cycles / (cpu.elapsedS as number),
      ...tally.summary(),
      ...cpu,
      ...ownCounters,
      ...violations(monitors),
      staleFenceAccepted: probe,
    };
  } finally {
    await closeMany(clients);
  }
}

/**
 * Every client loops cycles for `durationMs`; `onStop` runs when the window closes, before the waits
 * still queued are withdrawn. Cycles that end after it are checked for safety but not counted.
 */
async function runRound(
  clients: readonly LockClient[],
  prefix: string,
  fenced: boolean,
  params: MixedParams,
  durationMs: number,
  onStop: (tally: CycleTally) => void,
): Promise<{ tally: CycleTally; monitors: LockMonitor[] }> {
  const names = Array.from({ length: params.names }, (_, index) => `${prefix}:${index}`);
  const monitors = names.map(() => new LockMonitor(fenced));
  const tally = new CycleTally(clients.length);
  const value = "v".repeat(params.valueBytes);
  const stop = new AbortController();
  // Every waiter listens on this one signal.
  setMaxListeners(Number.POSITIVE_INFINITY, stop.signal);
  const timer = setTimeout(() => {
    onStop(tally);
    stop.abort();
  }, durationMs);
  try {
    await Promise.all(
      clients.map(async (client, index) => {
        // Each client draws the same sequence of locks in every system and pass.
        const random = seededRandom(index + 1);
        while (!stop.signal.aborted) {
          const pick = Math.floor(random() * names.length);
          const name = names[pick] as string;
          const monitor = monitors[pick] as LockMonitor;
          const asked = performance.now();
          const result = await client.acquire(name, params.ttlMs, { wait: true, signal: stop.signal });
          if (!result.acquired) return;
          const granted = performance.now();
          monitor.granted(index, result.token, granted);
          for (let put = 0; put < params.puts; put++) {
            const key = `${name}:data:${put}`;
            if (!fenced) await client.put(key, value);
            // A fenced system's grant without a token is a token violation already (the monitor counts it).
            else if (result.token !== undefined && !(await client.fencedPut(key, value, { lock: name, token: result.token }))) tally.refused++;
          }
          const release = monitor.releasing(performance.now());
          const stillOurs = await client.release(name);
          const done = performance.now();
          monitor.released(release, stillOurs, done);
          if (!stop.signal.aborted) tally.completed(index, done - asked, granted - asked);
        }
      }),
    );
  } finally {
    clearTimeout(timer);
    for (const monitor of monitors) monitor.reset();
  }
  return { tally, monitors };
}

/** 1 when the system accepted a write fenced with the token of an earlier grant of the lock (never expected), else 0. */
async function staleFenceAccepted(client: LockClient, name: string, ttlMs: number): Promise<number> {
  const earlier = await client.acquire(name, ttlMs, { wait: true });
  await client.release(name);
  const current = await client.acquire(name, ttlMs, { wait: true });
  try {
    if (earlier.token === undefined || current.token === undefined) return 1;
    return (await client.fencedPut(`${name}:data`, "stale", { lock: name, token: earlier.token })) ? 1 : 0;
  } finally {
    await client.release(name);
  }
}
