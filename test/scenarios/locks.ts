import { describe, expect, it, vi } from "vitest";
import { LeaseNotFoundError, type Lock } from "@leasehold/client";
import { startClient } from "../support/fixtures.js";
import { inspectOver, lockIn } from "../support/inspect.js";
import type { Target } from "../support/target.js";

/** The lock scenarios: test/locks.test.ts runs them against one server, test/cluster/e2e-locks.test.ts against a cluster. */
export function describeLocks(target: Target): void {
  describe(`locks (${target.name})`, () => {
    it("answers a try at once: granted when free, refused when held", async () => {
      const server = await target.start();
      const a = await startClient(server.url);
      const b = await startClient(server.url);
      const leaseA = await a.leases.grant(5_000);
      const leaseB = await b.leases.grant(5_000);
      const held = await a.locks.acquire("lock:try", leaseA.id);
      expect(held.acquired).toBe(true);
      expect(held.token).toBeGreaterThan(0);
      const refused = await b.locks.acquire("lock:try", leaseB.id);
      expect(refused.acquired).toBe(false);
      expect(refused.token).toBeUndefined();
      await held.release();
      expect((await b.locks.acquire("lock:try", leaseB.id)).acquired).toBe(true);
    });

    it("grants waiters one at a time in the order they asked, pushed without polling", async () => {
      const server = await target.start();
      const holder = await startClient(server.url);
      const holderLease = await holder.leases.grant(5_000);
      const first = await holder.locks.acquire("lock:fifo", holderLease.id);
      const order: number[] = [];
      const waiters = await Promise.all(Array.from({ length: 6 }, (_, index) => startClient(server.url)));
      const pending: Promise<Lock>[] = [];
      for (const [index, client] of waiters.entries()) {
        const lease = await client.leases.grant(5_000);
        pending.push(
          client.locks.acquire("lock:fifo", lease.id, { wait: true }).then((lock) => {
            order.push(index);
            return lock;
          }),
        );
        // Each request reaches the server before the next one is sent.
        await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:fifo")?.waiters.length).toBe(index + 1));
      }
      await first.release();
      for (let index = 0; index < waiters.length; index++) {
        const lock = await pending[index]!;
        expect(lock.acquired).toBe(true);
        // Only the head is granted: the one behind it is still waiting.
        expect(order).toEqual(Array.from({ length: index + 1 }, (_, i) => i));
        await lock.release();
      }
    });

    it("issues a larger token on every grant of a lock", async () => {
      const server = await target.start();
      const a = await startClient(server.url);
      const b = await startClient(server.url);
      const leaseA = await a.leases.grant(5_000);
      const leaseB = await b.leases.grant(5_000);
      const tokens: number[] = [];
      for (let round = 0; round < 20; round++) {
        const [client, lease] = round % 2 === 0 ? [a, leaseA] : [b, leaseB];
        const lock = await client.locks.acquire("lock:tokens", lease.id, { wait: 1_000 });
        expect(lock.acquired).toBe(true);
        tokens.push(lock.token!);
        // Other locks' grants in between must not break the order either.
        const other = await client.locks.acquire(`lock:other:${round}`, lease.id);
        await other.release();
        await lock.release();
      }
      for (let index = 1; index < tokens.length; index++) expect(tokens[index]!).toBeGreaterThan(tokens[index - 1]!);
    });

    it("returns acquired: false when a bounded wait runs out, and leaves the queue", async () => {
      const server = await target.start();
      const a = await startClient(server.url);
      const b = await startClient(server.url);
      const held = await a.locks.acquire("lock:timeout", (await a.leases.grant(5_000)).id);
      const leaseB = await b.leases.grant(5_000);
      const started = performance.now();
      const waited = await b.locks.acquire("lock:timeout", leaseB.id, { wait: 300 });
      const elapsed = performance.now() - started;
      expect(waited.acquired).toBe(false);
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(3_000);
      expect(lockIn(await inspectOver(server.url), "lock:timeout")?.waiters.length).toBe(0);
      expect(held.held).toBe(true);
    });

    it("rejects with the signal's reason when a wait is aborted, and the lock goes to the next in line", async () => {
      const server = await target.start();
      const a = await startClient(server.url);
      const b = await startClient(server.url);
      const c = await startClient(server.url);
      const held = await a.locks.acquire("lock:abort", (await a.leases.grant(5_000)).id);
      const controller = new AbortController();
      const aborted = b.locks.acquire("lock:abort", (await b.leases.grant(5_000)).id, { wait: true, signal: controller.signal });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:abort")?.waiters.length).toBe(1));
      const third = c.locks.acquire("lock:abort", (await c.leases.grant(5_000)).id, { wait: true });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:abort")?.waiters.length).toBe(2));
      const reason = new Error("user gave up");
      controller.abort(reason);
      await expect(aborted).rejects.toBe(reason);
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:abort")?.waiters.length).toBe(1));
      await held.release();
      expect((await third).acquired).toBe(true);
    });

    it("releases everything at once on a clean close, so the waiter is granted without waiting for the TTL", async () => {
      const server = await target.start();
      const a = await startClient(server.url);
      const b = await startClient(server.url);
      const held = await a.locks.acquire("lock:close", (await a.leases.grant(60_000)).id);
      const events: string[] = [];
      held.signal.addEventListener("abort", () => events.push("holder told"));
      const waiting = b.locks.acquire("lock:close", (await b.leases.grant(5_000)).id, { wait: true }).then((lock) => {
        events.push("waiter granted");
        return lock;
      });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:close")?.waiters.length).toBe(1));
      const started = performance.now();
      const closing = a.close();
      // The holder's handle is lost before the goodbye leaves, so before anyone else can be granted.
      expect(events).toEqual(["holder told"]);
      await closing;
      expect((await waiting).acquired).toBe(true);
      expect(events).toEqual(["holder told", "waiter granted"]);
      // Handed on by the goodbye, not by the holder's 60 s lease running out (a bound far from both,
      // as a loaded machine takes seconds at times).
      expect(performance.now() - started).toBeLessThan(30_000);
    });

    it("releases a lease's locks when it is revoked, aborting their signals", async () => {
      const server = await target.start();
      const a = await startClient(server.url);
      const b = await startClient(server.url);
      const lease = await a.leases.grant(60_000);
      const one = await a.locks.acquire("lock:r1", lease.id);
      const two = await a.locks.acquire("lock:r2", lease.id);
      expect((await a.leases.timeToLive(lease.id)).locks.sort()).toEqual(["lock:r1", "lock:r2"]);
      const leaseB = await b.leases.grant(5_000);
      const next = b.locks.acquire("lock:r2", leaseB.id, { wait: true });
      const revoking = a.leases.revoke(lease.id);
      // Lost before the revoke leaves, so before the waiter can be granted.
      expect(one.signal.aborted && two.signal.aborted).toBe(true);
      await revoking;
      expect((await next).acquired).toBe(true);
      await expect(a.locks.acquire("lock:r3", lease.id)).rejects.toBeInstanceOf(LeaseNotFoundError);
      await expect(a.leases.timeToLive(lease.id)).rejects.toBeInstanceOf(LeaseNotFoundError);
    });

    it("expires a lease without keep-alive TTL after its grant unless renewed", async () => {
      const server = await target.start();
      const client = await startClient(server.url);
      // A TTL of 1.5 s against sleeps of 0.3-0.6 s: the bounds hold on a loaded machine too (the
      // exact timing is checked on fake time in the coordinator's unit tests).
      const manual = await client.leases.grant(1_500, { keepAlive: false });
      const kept = await client.leases.grant(1_500);
      await new Promise((resolve) => setTimeout(resolve, 600));
      await client.leases.renew(manual.id);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Renewed 300 ms ago: still alive; the kept-alive one never lapses while the session is heard.
      expect((await client.leases.timeToLive(manual.id)).remainingMs).toBeGreaterThan(0);
      await vi.waitFor(() => expect(manual.signal.aborted).toBe(true), { timeout: 5_000 });
      // By now the kept-alive lease has lived past its TTL from the grant, kept by the session alone.
      expect(kept.signal.aborted).toBe(false);
      expect((await client.leases.timeToLive(kept.id)).remainingMs).toBeGreaterThan(0);
    });

    it("locks.request calls made together after the session lease is lost share one new lease", async () => {
      const server = await target.start();
      const client = await startClient(server.url);
      await client.locks.request("lock:session-lease", {}, () => undefined);
      const [first] = client.leases.list();
      await client.leases.revoke(first!.id);
      const names = ["lock:s1", "lock:s2", "lock:s3"];
      const leases = await Promise.all(names.map((name) => client.locks.request(name, {}, (lock) => lock?.leaseId)));
      expect(new Set(leases).size).toBe(1);
      expect(leases[0]).not.toBe(first!.id);
      expect(client.leases.list().map((lease) => lease.id)).toEqual([leases[0]]);
    });
  });
}
