import { ConflictError, ErrorCode, type Lease, type LeaseholdClient, type Lock } from "@leasehold/client";
import { describe, expect, test, vi } from "vitest";
import { seededRandom } from "../support/seeded-random.js";
import { harnessFor } from "../shared-state/fixtures/harness.js";
import { inspectOver, lockIn } from "../support/inspect.js";
import type { Target } from "../support/target.js";


type Mode = "shared" | "exclusive" | "slot";

/** Who holds what, as the test sees it: asserts on every entry that no forbidden overlap exists. */
class Occupancy {
  readonly #holders = new Map<string, Map<number, Mode>>();
  readonly peaks = new Map<string, number>();
  readonly violations: string[] = [];

  constructor(readonly limits: Record<string, number>) {}

  enter(resource: string, holder: number, mode: Mode): void {
    const holders = this.#holders.get(resource) ?? new Map<number, Mode>();
    this.#holders.set(resource, holders);
    const modes = [...holders.values()];
    if (mode === "exclusive" && modes.length > 0) this.violations.push(`${holder} took ${resource} exclusively while held by ${modes.join(",")}`);
    if (mode === "shared" && modes.includes("exclusive")) this.violations.push(`${holder} shared ${resource} with an exclusive holder`);
    if (mode === "slot" && modes.length >= (this.limits[resource] ?? 0)) this.violations.push(`${holder} took a slot of ${resource} beyond its limit`);
    holders.set(holder, mode);
    this.peaks.set(resource, Math.max(this.peaks.get(resource) ?? 0, holders.size));
  }

  leave(resource: string, holder: number): void {
    this.#holders.get(resource)?.delete(holder);
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The shared-lock and semaphore scenarios: test/shared-state/shared-locks.test.ts runs them against one server, test/cluster/e2e-shared-state.test.ts against a cluster. */
export function describeSharedLocks(target: Target): void {
  const harness = harnessFor(target);
  describe(`shared locks and semaphores (${target.name})`, () => {
    test("randomized: 8 clients, random modes; readers share, writers are alone, a semaphore never passes its limit", async () => {
      const seed = Date.now();
      // Seeded, so that a failing run can be replayed from its seed.
      const next = seededRandom(seed);
      const server = await harness.server();
      const clients = await harness.clients(server, 8);
      const occupancy = new Occupancy({ "gpu-slots": 3 });

      async function worker(client: LeaseholdClient, id: number): Promise<void> {
        let lease: Lease = await client.leases.grant(5_000);
        for (let step = 0; step < 40; step++) {
          const roll = next();
          const resource = roll < 0.6 ? "cache:rebuild" : "gpu-slots";
          const mode: Mode = resource === "gpu-slots" ? "slot" : next() < 0.65 ? "shared" : "exclusive";
          const wait = next() < 0.85 ? true : 0;
          const lock: Lock =
            mode === "slot"
              ? await client.semaphores.acquire(resource, lease.id, { limit: 3, wait })
              : await client.locks.acquire(resource, lease.id, { mode, wait });
          if (!lock.acquired) continue;
          occupancy.enter(resource, id, mode);
          await pause(Math.floor(next() * 4));
          occupancy.leave(resource, id);
          if (next() < 0.05) {
            // Losing the lease releases everything under it, as a release would.
            await client.leases.revoke(lease.id);
            expect(lock.held).toBe(false);
            lease = await client.leases.grant(5_000);
          } else {
            await lock.release();
          }
        }
      }

      await Promise.all(clients.map((client, id) => worker(client, id)));
      expect(occupancy.violations, `seed ${seed}`).toEqual([]);
      // The run did exercise sharing of both (not just one holder at a time). A full semaphore is not asked of
      // a random run: a hold lasts 0 to 3 ms, and through a cluster three grants must then come in one commit
      // (CI once saw a peak of 2); "a semaphore grants at most `limit` holders" below fills one for certain.
      expect(occupancy.peaks.get("cache:rebuild"), `seed ${seed}`).toBeGreaterThan(1);
      expect(occupancy.peaks.get("gpu-slots"), `seed ${seed}`).toBeGreaterThan(1);
      // Nothing of this test's is left held or queued (a cluster's other tests have names of their own).
      expect((await inspectOver(server.url)).locks.filter((entry) => ["cache:rebuild", "gpu-slots"].includes(entry.name))).toEqual([]);
    });

    test("FIFO across modes: a reader that comes after a waiting writer waits behind it", async () => {
      const server = await harness.server();
      const [r1, w, r2, r3] = await harness.clients(server, 4);
      const leases = await Promise.all([r1, w, r2, r3].map((client) => client!.leases.grant(5_000)));
      const queue = async () => lockIn(await inspectOver(server.url), "cache:fifo")?.waiters.length ?? 0;

      const first = await r1!.locks.acquire("cache:fifo", leases[0]!.id, { mode: "shared" });
      const writer = w!.locks.acquire("cache:fifo", leases[1]!.id, { wait: true });
      await vi.waitFor(async () => expect(await queue()).toBe(1));
      // Free for readers right now, but a writer is in line: a try is refused and a wait queues.
      expect((await r3!.locks.acquire("cache:fifo", leases[3]!.id, { mode: "shared" })).acquired).toBe(false);
      let secondGranted = false;
      const second = r2!.locks.acquire("cache:fifo", leases[2]!.id, { mode: "shared", wait: true }).then((lock) => {
        secondGranted = true;
        return lock;
      });
      await vi.waitFor(async () => expect(await queue()).toBe(2));

      await first.release();
      const written = await writer;
      expect(written.acquired).toBe(true);
      expect(secondGranted).toBe(false);
      await written.release();
      const read = await second;
      expect(read.token!).toBeGreaterThan(written.token!);
    });

    test("a semaphore grants at most `limit` holders and queues the rest in order", async () => {
      const server = await harness.server();
      const clients = await harness.clients(server, 6);
      const leases = await Promise.all(clients.map((client) => client.leases.grant(5_000)));
      const slots = await Promise.all(clients.slice(0, 4).map((client, index) => client.semaphores.acquire("gpu-slots:queue", leases[index]!.id, { limit: 4 })));
      expect(slots.every((slot) => slot.acquired)).toBe(true);
      expect((await clients[4]!.semaphores.acquire("gpu-slots:queue", leases[4]!.id, { limit: 4 })).acquired).toBe(false);
      const fifth = clients[4]!.semaphores.acquire("gpu-slots:queue", leases[4]!.id, { limit: 4, wait: true });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "gpu-slots:queue")?.waiters.length).toBe(1));
      const sixth = clients[5]!.semaphores.acquire("gpu-slots:queue", leases[5]!.id, { limit: 4, wait: true });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "gpu-slots:queue")?.waiters.length).toBe(2));
      await slots[2]!.release();
      const granted = await fifth;
      expect(granted.acquired).toBe(true);
      expect(lockIn(await inspectOver(server.url), "gpu-slots:queue")?.holders.length).toBe(4);
      await clients[0]!.leases.revoke(leases[0]!.id);
      expect((await sixth).acquired).toBe(true);
    });

    test("a mismatched limit is LIMIT_MISMATCH; using a name as another kind is MODE_MISMATCH", async () => {
      const server = await harness.server();
      const client = await harness.client(server);
      const lease = await client.leases.grant(5_000);
      await client.semaphores.acquire("gpu-slots:mismatch", lease.id, { limit: 4 });
      const mismatch = client.semaphores.acquire("gpu-slots:mismatch", lease.id, { limit: 2 });
      await expect(mismatch).rejects.toBeInstanceOf(ConflictError);
      await expect(mismatch).rejects.toMatchObject({ code: ErrorCode.LIMIT_MISMATCH });
      await expect(client.locks.acquire("gpu-slots:mismatch", lease.id)).rejects.toMatchObject({ code: ErrorCode.MODE_MISMATCH });
      await expect(client.locks.acquire("gpu-slots:mismatch", lease.id, { mode: "shared" }, 4)).rejects.toMatchObject({ code: ErrorCode.MODE_MISMATCH });
      await client.locks.acquire("plain:mismatch", lease.id);
      await expect(client.semaphores.acquire("plain:mismatch", lease.id, { limit: 2 })).rejects.toMatchObject({ code: ErrorCode.MODE_MISMATCH });
    });
  });
}
