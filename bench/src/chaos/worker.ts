// A chaos worker: one client process that loops over acquire, two fenced puts, an increment and a
// release, recording each step in its history. The runner pauses it, cuts its connections and stops it
// (a line "stop" on stdin, or stdin closed).
// Usage: worker.ts --name w1 --urls ws://a,ws://b --locks chaos-0,chaos-1 --ttl 1000 --history w1.jsonl
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { connect, LeaseholdError, type Lease, type LeaseholdClient } from "@leasehold/client";
import { HistoryWriter, sharedNow, toShared, type Invocation, type Outcome } from "./history.js";
import { counterOf, keysOf } from "./names.js";

/**
 * Reconnect fast: the run checks that a lock is held again within TTL + 1 s of a fault's end, and the
 * client's default backoff (up to 5 s between dials) would measure the backoff rather than the service.
 */
const RECONNECT_BACKOFF = { baseMs: 50, maxMs: 500 };

const { values } = parseArgs({
  options: {
    name: { type: "string" },
    urls: { type: "string" },
    locks: { type: "string" },
    ttl: { type: "string" },
    history: { type: "string" },
  },
});
if (!values.name || !values.urls || !values.locks || !values.ttl || !values.history) {
  throw new Error("usage: worker.ts --name <name> --urls <url,...> --locks <lock,...> --ttl <ms> --history <file>");
}
const name = values.name;
const locks = values.locks.split(",");
const ttlMs = Number(values.ttl);
const history = new HistoryWriter(values.history);
const stop = new AbortController();
createInterface({ input: process.stdin })
  .on("line", (line) => {
    if (line.trim() === "stop") stop.abort(new Error("the run is over"));
  })
  .on("close", () => stop.abort(new Error("the runner is gone")));

let nextId = 1;
const client = await connect(values.urls.split(","), { reconnectBackoff: RECONNECT_BACKOFF, agent: `chaos ${name}` });
process.stdout.write(`${JSON.stringify({ ready: name })}\n`);
let lease: Lease | undefined;
while (!stop.signal.aborted) {
  try {
    if (!lease || lease.lost) lease = await client.leases.grant(ttlMs);
    await oneRound(client, lease, locks[Math.floor(Math.random() * locks.length)]!);
  } catch (error) {
    // The failed step is in the history already; the next round goes on (with a new lease if this one is lost).
    if (!(error instanceof LeaseholdError) && !stop.signal.aborted) throw error;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
await client.close();
history.close();
process.exit(0);

/**
 * acquire (waiting), put the first key, put the second, increment, release: each step recorded, and the
 * holder's view of its lock (`held`, its deadline) right after the grant, after each step, and when it is lost.
 */
async function oneRound(client: LeaseholdClient, lease: Lease, lockName: string): Promise<void> {
  const acquire = await step({ op: "acquire", lock: lockName }, async () => {
    // Given up when the lease lapses (its deadline passed) or the run ends, not only when the server says so.
    const lock = await client.locks.acquire(lockName, lease.id, { wait: true, signal: AbortSignal.any([lease.signal, stop.signal]) });
    if (!lock.acquired || lock.token === undefined) throw new Error(`acquire of ${lockName} answered without a grant`);
    return { lock, outcome: { op: "acquire", token: lock.token } };
  });
  const { lock } = acquire.value;
  const token = lock.token!;
  // `held` is read before the deadline: when it says true, the deadline was still ahead at that moment.
  const look = () => history.write({ type: "hold", process: name, id: acquire.id, at: sharedNow(), held: lock.held, deadline: toShared(lease.deadline()) });
  look();
  lock.signal.addEventListener("abort", look, { once: true });
  try {
    // No check of `held` between the steps: a worker paused after the first put sends the second with a
    // stale token, as a real holder would, and fencing must refuse it.
    for (const key of keysOf(lockName)) {
      await step({ op: "put", lock: lockName, key, token, value: `${name}@${token}` }, async () => {
        const { revision } = await client.put(key, `${name}@${token}`, { fence: { lock: lockName, token } });
        return { outcome: { op: "put", revision } };
      });
      look();
    }
    await step({ op: "incr", counter: counterOf(lockName) }, async () => ({ outcome: { op: "incr", value: await client.counters.increment(counterOf(lockName)) } }));
    look();
  } finally {
    await step({ op: "release", lock: lockName, token }, async () => {
      await lock.release();
      return { outcome: { op: "release" } };
    }).catch(async () => {
      // A hold whose release failed would stay with this lease, which the session keeps alive: end the
      // lease (every lock under it passes on) and take a new one next round.
      await client.leases.revoke(lease.id).catch(() => {});
    });
  }
}

/**
 * Records the invocation, runs `run`, records its outcome or failure (rethrown), and returns the step's
 * id with what `run` returned besides its outcome.
 */
async function step<T extends object>(call: Invocation, run: () => Promise<T & { outcome: Outcome }>): Promise<{ id: number; value: T }> {
  const id = nextId++;
  history.write({ type: "invoke", process: name, id, at: sharedNow(), call });
  try {
    const value = await run();
    history.write({ type: "ok", process: name, id, at: sharedNow(), result: value.outcome });
    return { id, value };
  } catch (error) {
    const code = error instanceof LeaseholdError ? error.code : stop.signal.aborted ? "STOPPED" : "UNEXPECTED";
    history.write({ type: "fail", process: name, id, at: sharedNow(), code, message: error instanceof Error ? error.message : String(error) });
    throw error;
  }
}
