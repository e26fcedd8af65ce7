import { describe, expect, test, vi } from "vitest";
import { drain, harnessFor } from "../shared-state/fixtures/harness.js";
import type { WatchEvent } from "@leasehold/client";
import type { Target } from "../support/target.js";

/** The seed example's scenarios: test/shared-state/seed.test.ts runs them against one server, test/cluster/e2e-shared-state.test.ts against a cluster. */
export function describeSeed(target: Target): void {
  const harness = harnessFor(target);
  describe(`the seed example (${target.name})`, () => {
    test("a worker holds lock:job:1, writes job:1 under it, revokes; a second worker is refused until then and gets it after", async () => {
      const server = await harness.server();
      const [first, second] = await harness.clients(server, 2);
      const leaseA = await first!.leases.grant(5_000);
      const leaseB = await second!.leases.grant(5_000);

      const lock = await first!.locks.acquire("lock:job:1", leaseA.id);
      expect(lock.acquired).toBe(true);
      const { revision } = await first!.put("job:1", "processing", { fence: { lock: "lock:job:1", token: lock.token! } });
      // Lock tokens and key revisions come from one counter: the write is ordered after the grant.
      expect(revision).toBeGreaterThan(lock.token!);

      const refused = await second!.locks.acquire("lock:job:1", leaseB.id);
      expect(refused.acquired).toBe(false);
      const waiting = second!.locks.acquire("lock:job:1", leaseB.id, { wait: true });

      await first!.put("job:1", "done", { fence: { lock: "lock:job:1", token: lock.token! } });
      await first!.leases.revoke(leaseA.id);
      expect(lock.held).toBe(false);

      const granted = await waiting;
      expect(granted.acquired).toBe(true);
      expect(granted.token!).toBeGreaterThan(lock.token!);
      expect(await second!.get("job:1")).toEqual({ value: "done", revision: expect.any(Number) });
      await second!.put("job:1", "taken over", { fence: { lock: "lock:job:1", token: granted.token! } });
    });

    test("a key put under a lease disappears with a delete event when the lease is revoked", async () => {
      const server = await harness.server();
      const [worker, watcher] = await harness.clients(server, 2);
      const watch = watcher!.watch("worker:");
      harness.defer(() => watch.close());
      await watch.ready;
      const events: WatchEvent[] = [];
      const done = drain(watch, events);

      const lease = await worker!.leases.grant(5_000);
      const put = await worker!.put("worker:7", { host: "h7", slots: [1, 2] }, { lease: lease.id });
      expect(await worker!.get("worker:7")).toEqual({ value: { host: "h7", slots: [1, 2] }, revision: put.revision, lease: lease.id });
      await worker!.leases.revoke(lease.id);

      expect(await watcher!.get("worker:7")).toBeNull();
      await vi.waitFor(() => expect(events).toHaveLength(2));
      expect(events[0]).toEqual({ type: "put", key: "worker:7", value: { host: "h7", slots: [1, 2] }, revision: put.revision });
      expect(events[1]).toMatchObject({ type: "delete", key: "worker:7" });
      expect(events[1]!.revision).toBeGreaterThan(put.revision);
      watch.close();
      expect(await done).toBeUndefined();
    });

    test("a key put under a lease disappears when the lease expires, and a later put without the lease unbinds it", async () => {
      const server = await harness.server();
      const client = await harness.client(server);
      const lease = await client.leases.grant(200, { keepAlive: false });
      await client.put("ephemeral", 1, { lease: lease.id });
      await client.put("kept", 1, { lease: lease.id });
      await client.put("kept", 2); // no lease: the key is no longer bound to it
      await vi.waitFor(async () => expect(await client.get("ephemeral")).toBeNull(), { timeout: 2_000, interval: 50 });
      expect(await client.get("kept")).toEqual({ value: 2, revision: expect.any(Number) });
      expect(lease.lost).toBe(true);
    });

    test("every write gets a revision greater than all before it, across clients", async () => {
      const server = await harness.server();
      const clients = await harness.clients(server, 4);
      const perClient: number[][] = clients.map(() => []);
      await Promise.all(
        clients.map(async (client, index) => {
          for (let step = 0; step < 30; step++) {
            const kind = step % 3;
            if (kind === 0) perClient[index]!.push((await client.put(`k${index}`, step)).revision);
            else if (kind === 1) perClient[index]!.push((await client.counters.set(`c${index}`, step)).revision);
            else perClient[index]!.push((await client.delete(`k${index}`)).revision);
          }
        }),
      );
      const all = perClient.flat();
      expect(new Set(all).size).toBe(all.length);
      for (const sequence of perClient) expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
      // Causality across clients: a write that starts after another finished is ordered after it.
      let last = 0;
      for (let step = 0; step < 20; step++) {
        const client = clients[step % clients.length]!;
        const { revision } = step % 2 === 0 ? await client.put("shared", step) : await client.counters.set("shared", step);
        expect(revision).toBeGreaterThan(last);
        last = revision;
      }
    });
  });
}
