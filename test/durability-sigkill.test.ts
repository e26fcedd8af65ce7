import { describe, expect, it, vi } from "vitest";
import { ConnectionError, ErrorCode, type LeaseholdClient } from "@leasehold/client";
import { dataDir, startClient, startServer } from "./support/fixtures.js";
import { exited, freePort, startServerProcess } from "./support/server-process.js";

const isUnknown = (error: unknown) => error instanceof ConnectionError && error.code === ErrorCode.OUTCOME_UNKNOWN;

// The SIGKILL load tests of durability, apart from test/durability.test.ts so that the two files run on
// two workers: together they were the e2e tier's longest file, 28 s of its 106 s at a load of 11.
describe("durability through a SIGKILL", () => {
  // `--sync process` skips the fsync per commit: a killed process loses nothing all the same (the
  // operating system still has every write); only a power loss or kernel crash could.
  it.each([["full"], ["process"]] as const)("with --sync %s, keeps every acknowledged change through a SIGKILL in the middle of a load, and never reuses a revision or token", async (sync) => {
    const dir = dataDir();
    const port = await freePort();
    const first = await startServerProcess(["--port", String(port), "--data", dir, "--sync", sync]);
    const clients = await Promise.all(Array.from({ length: 8 }, () => startClient(first.url)));
    const acked = { keys: new Map<string, number>(), increments: 0, revisions: [] as number[], tokens: [] as number[] };
    const unknown = { keys: new Set<string>(), increments: 0 };
    let stop = false;
    const work = async (client: LeaseholdClient, index: number) => {
      const lease = await client.leases.grant(20_000);
      for (let n = 0; !stop; n++) {
        const key = `load:${index}:${n}`;
        await client.put(key, n).then(
          ({ revision }) => {
            acked.keys.set(key, n);
            acked.revisions.push(revision);
          },
          (error) => {
            if (!isUnknown(error)) throw error;
            unknown.keys.add(key);
          },
        );
        await client.counters.increment("load:total", 1).then(
          () => acked.increments++,
          (error) => {
            if (!isUnknown(error)) throw error;
            unknown.increments++;
          },
        );
        const lock = await client.locks.acquire("lock:load", lease.id, { wait: 5_000 });
        if (lock.acquired) {
          acked.tokens.push(lock.token!);
          await lock.release();
        }
      }
    };
    const workers = clients.map((client, index) => work(client, index));
    // The kill only has to land in the middle of the load (every client with a request in flight),
    // which it does after any number of acknowledgements: 100 rather than 300 (a server that forgot its
    // revision counter at the restart still fails both tests, checked on purpose).
    await vi.waitFor(() => expect(acked.keys.size).toBeGreaterThan(100), { timeout: 20_000, interval: 50 });

    first.child.process.kill("SIGKILL");
    await exited(first.child);
    const ackedBeforeKill = { keys: acked.keys.size, increments: acked.increments };
    // The process dies for real; what it left on disk is then read by a server in this process, on the
    // same port (one process start fewer: 0.6 s of CPU, 2 to 5 s of wall time on this loaded machine).
    const second = await startServer({ port, dataDir: dir, sync });
    // The clients resume on their own and go on; let them run a little on the new process.
    await vi.waitFor(() => expect(acked.keys.size).toBeGreaterThan(ackedBeforeKill.keys + 20), { timeout: 20_000, interval: 50 });
    stop = true;
    await Promise.all(workers);

    const checker = await startClient(second.url);
    for (const [key, value] of acked.keys) {
      const entry = await checker.get(key);
      expect(entry?.value, key).toBe(value);
    }
    const total = await checker.counters.get("load:total");
    expect(total).toBeGreaterThanOrEqual(acked.increments);
    expect(total).toBeLessThanOrEqual(acked.increments + unknown.increments);
    // Revisions and tokens come from one counter: no two acknowledgements may share a number.
    const numbers = [...acked.revisions, ...acked.tokens];
    expect(new Set(numbers).size).toBe(numbers.length);
    // One exclusive lock's grants are serial (each recorded before its release is sent): tokens in
    // the order they were granted only grow, across the kill as well.
    expect(acked.tokens).toEqual([...acked.tokens].sort((a, b) => a - b));
    const { revision } = await checker.put("load:after", true);
    expect(revision).toBeGreaterThan(Math.max(...numbers));
  });
});
