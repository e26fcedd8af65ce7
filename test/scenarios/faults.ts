import { describe, expect, it, vi } from "vitest";
import { spawnBuiltScript } from "../support/built-script.js";
import { defer, startClient } from "../support/fixtures.js";
import { inspectOver, lockIn } from "../support/inspect.js";
import type { Target } from "../support/target.js";
import { TcpProxy } from "../support/tcp-proxy.js";

const TTL = 1_000;

/**
 * How long the target keeps a silent session for a resume (`sessionGraceMs`, `serve --session-grace`).
 * Longer than a lease of TTL, so that a session cut off past its lease can still resume (and find the
 * lease lost); short enough that a dropped session is found gone within a test. 5 s: at 3 s, on a
 * machine loaded 13 over 2 cores, seeing the lease gone and dialling again took past the grace once,
 * and the session meant to resume was dropped.
 */
export const FAULTS_SESSION_GRACE_MS = 5_000;

/**
 * The fault scenarios: a holder killed, paused, cut off, dropped; a waiter cut off. test/faults.test.ts
 * runs them against one server, test/cluster/e2e-faults.test.ts against a cluster, where the proxy
 * cuts the client's socket to the follower it dialled. The target must keep silent sessions for
 * FAULTS_SESSION_GRACE_MS.
 */
export function describeFaults(target: Target): void {
  describe(`faults (${target.name})`, () => {
    it("grants a killed holder's lock about one TTL after it was last heard, not before", async () => {
      const server = await target.start();
      const holder = spawnBuiltScript("./holder.ts", [server.url, "lock:kill", String(TTL)]);
      const acquired = await holder.next((line) => line.event === "acquired");
      const waiter = await startClient(server.url);
      const lease = await waiter.leases.grant(10_000);
      const waiting = waiter.locks.acquire("lock:kill", lease.id, { wait: true });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:kill")?.waiters.length).toBe(1));

      const killedAt = performance.now();
      holder.process.kill("SIGKILL");
      // The holder's lease, read after the kill: it runs out no sooner than `remaining` after we asked
      // (a heartbeat still in flight could only move its deadline later).
      const askedAt = performance.now();
      const holderLease = (await inspectOver(server.url)).leases.find((each) => each.session === acquired.session);
      expect(holderLease, "the killed holder's lease, before it ran out").toBeDefined();
      const lock = await waiting;
      const grantedAt = performance.now();

      expect(lock.acquired).toBe(true);
      expect(lock.token!).toBeGreaterThan(acquired.token as number);
      // Never before the holder's lease could have run out (remaining is rounded to the ms)...
      expect(grantedAt).toBeGreaterThanOrEqual(askedAt + holderLease!.remaining - 1);
      // ...and not much after (a heartbeat is at most TTL/3 old when the kill lands).
      expect(grantedAt - killedAt).toBeGreaterThanOrEqual(TTL * (2 / 3) - 50);
      expect(grantedAt - killedAt).toBeLessThan(TTL + 1_500);
    });

    it("a paused holder loses its lock to a waiter, and learns it is lost with a stale token once resumed", async () => {
      const server = await target.start();
      const holder = spawnBuiltScript("./holder.ts", [server.url, "lock:pause", String(TTL)]);
      const acquired = await holder.next((line) => line.event === "acquired");
      const waiter = await startClient(server.url);
      const waiting = waiter.locks.acquire("lock:pause", (await waiter.leases.grant(10_000)).id, { wait: true });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:pause")?.waiters.length).toBe(1));

      holder.process.kill("SIGSTOP");
      const lock = await waiting;
      expect(lock.acquired).toBe(true);
      expect(holder.lines.some((line) => line.event === "lost")).toBe(false);

      holder.process.kill("SIGCONT");
      const lost = await holder.next((line) => line.event === "lost", 5_000);
      expect(lost.code).toBe("LEASE_EXPIRED");
      expect(acquired.token as number).toBeLessThan(lock.token!);
      expect(lock.signal.aborted).toBe(false);
    });

    it("a holder cut off from the server aborts its signal before the waiter is granted", async () => {
      const server = await target.start();
      const proxy = TcpProxy.forUrl(server.url);
      const proxyUrl = await proxy.start();
      defer(() => proxy.close());
      const holder = await startClient(proxyUrl);
      const lock = await holder.locks.acquire("lock:cut", (await holder.leases.grant(TTL)).id);
      const waiter = await startClient(server.url);
      let grantedAt = Number.NaN;
      const waiting = waiter.locks.acquire("lock:cut", (await waiter.leases.grant(10_000)).id, { wait: true }).then((granted) => {
        grantedAt = performance.now();
        return granted;
      });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:cut")?.waiters.length).toBe(1));
      let abortedAt = Number.NaN;
      lock.signal.addEventListener("abort", () => (abortedAt = performance.now()));

      proxy.blackhole();
      expect((await waiting).acquired).toBe(true);
      expect(lock.signal.aborted).toBe(true);
      expect(abortedAt).toBeLessThan(grantedAt);
      expect((lock.signal.reason as { code: string }).code).toBe("LEASE_EXPIRED");
      // Drop the blackholed connection, or closing the client after the test waits 2 s for a bye that cannot arrive.
      proxy.cut();
    });

    it("a holder whose connection is dropped outright also aborts before the waiter's grant, and learns its session expired", async () => {
      // The session is dropped one grace (FAULTS_SESSION_GRACE_MS) after it was last heard.
      const server = await target.start();
      const proxy = TcpProxy.forUrl(server.url);
      const proxyUrl = await proxy.start();
      defer(() => proxy.close());
      const holder = await startClient(proxyUrl);
      const lock = await holder.locks.acquire("lock:drop", (await holder.leases.grant(TTL)).id);
      const waiter = await startClient(server.url);
      let grantedAt = Number.NaN;
      const waiting = waiter.locks.acquire("lock:drop", (await waiter.leases.grant(10_000)).id, { wait: true }).then((granted) => {
        grantedAt = performance.now();
        return granted;
      });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:drop")?.waiters.length).toBe(1));
      let abortedAt = Number.NaN;
      lock.signal.addEventListener("abort", () => (abortedAt = performance.now()));
      const expired = new Promise<void>((resolve) => holder.addEventListener("expired", () => resolve()));

      proxy.cut();
      expect((await waiting).acquired).toBe(true);
      expect(abortedAt).toBeLessThan(grantedAt);
      // When the network heals, the session is found gone, and the client says so...
      await vi.waitFor(async () => expect((await inspectOver(server.url)).sessions.map((session) => session.session)).not.toContain(holder.sessionId), { timeout: FAULTS_SESSION_GRACE_MS + 5_000 });
      proxy.restore();
      // The network is back: dial now, as an application told so would, rather than after the backoff wait.
      holder.wake();
      await expired;
      // ...and goes on with a new session.
      const again = await holder.locks.acquire("lock:drop:2", (await holder.leases.grant(TTL)).id);
      expect(again.acquired).toBe(true);
    });

    it("a session that outlives its lease resumes, but the lease and its lock stay lost", async () => {
      const server = await target.start();
      const proxy = TcpProxy.forUrl(server.url);
      const proxyUrl = await proxy.start();
      defer(() => proxy.close());
      const holder = await startClient(proxyUrl);
      const lease = await holder.leases.grant(TTL);
      const lock = await holder.locks.acquire("lock:outlived", lease.id);
      // Resumed, or (should it come back past the grace) told its session is gone: either ends the
      // wait, so that the second fails here with what happened, not as a test timeout.
      const back = new Promise<string>((resolve) => {
        holder.addEventListener("reconnected", () => resolve("reconnected"));
        holder.addEventListener("expired", () => resolve("expired"));
      });
      const cutAt = performance.now();
      proxy.cut();
      await vi.waitFor(async () => expect((await inspectOver(server.url)).leases.map((each) => each.lease)).not.toContain(lease.id), { timeout: 5_000 });
      proxy.restore();
      // The network is back: dial now, as an application told so would, rather than after the backoff wait.
      holder.wake();
      expect(await back, `the session, back ${Math.round(performance.now() - cutAt)} ms after the cut (grace ${FAULTS_SESSION_GRACE_MS} ms)`).toBe("reconnected");
      expect(lock.signal.aborted).toBe(true);
      expect(lease.signal.aborted).toBe(true);
      expect(lockIn(await inspectOver(server.url), "lock:outlived")).toBeUndefined();
    });

    it("a cut shorter than the TTL resumes the session: lock kept, same token, waiter not granted", async () => {
      const server = await target.start();
      const proxy = TcpProxy.forUrl(server.url);
      const proxyUrl = await proxy.start();
      defer(() => proxy.close());
      const holder = await startClient(proxyUrl);
      const lease = await holder.leases.grant(3_000);
      const lock = await holder.locks.acquire("lock:short", lease.id);
      const waiter = await startClient(server.url);
      let granted = false;
      const waiting = waiter.locks.acquire("lock:short", (await waiter.leases.grant(10_000)).id, { wait: true }).then((result) => {
        granted = true;
        return result;
      });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:short")?.waiters.length).toBe(1));
      const events: string[] = [];
      for (const name of ["disconnected", "reconnected", "expired"]) holder.addEventListener(name, () => events.push(name));

      proxy.cut();
      await vi.waitFor(() => expect(events).toContain("disconnected"));
      await new Promise((resolve) => setTimeout(resolve, 300));
      proxy.restore();
      // The network is back: dial now, as an application told so would, rather than after the backoff wait.
      holder.wake();
      await vi.waitFor(() => expect(events).toContain("reconnected"), { timeout: 5_000 });

      // Well past the cut: still held, never reported lost, and the waiter still waits.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(events).not.toContain("expired");
      expect(lock.signal.aborted).toBe(false);
      expect(lease.signal.aborted).toBe(false);
      expect(granted).toBe(false);
      expect(lockIn(await inspectOver(server.url), "lock:short")?.holders.map((hold) => hold.token)).toEqual([lock.token]);
      // The resumed session still works: a release hands the lock on.
      await lock.release();
      const next = await waiting;
      expect(next.acquired).toBe(true);
      expect(next.token!).toBeGreaterThan(lock.token!);
    });

    it("a wait queued before a cut is granted after the resume, with no second request", async () => {
      const server = await target.start();
      const proxy = TcpProxy.forUrl(server.url);
      const proxyUrl = await proxy.start();
      defer(() => proxy.close());
      const owner = await startClient(server.url);
      const held = await owner.locks.acquire("lock:queued", (await owner.leases.grant(10_000)).id);
      const waiter = await startClient(proxyUrl);
      const waiting = waiter.locks.acquire("lock:queued", (await waiter.leases.grant(5_000)).id, { wait: true });
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:queued")?.waiters.length).toBe(1));
      proxy.cut();
      // Granted while the waiter is away: the reply is lost with the connection...
      await held.release();
      await vi.waitFor(async () => expect(lockIn(await inspectOver(server.url), "lock:queued")?.holders).toHaveLength(1));
      proxy.restore();
      // The network is back: dial now, as an application told so would, rather than after the backoff wait.
      waiter.wake();
      // ...and recovered from the resync on resume.
      const lock = await waiting;
      expect(lock.acquired).toBe(true);
      expect(lockIn(await inspectOver(server.url), "lock:queued")?.holders.map((hold) => hold.token)).toEqual([lock.token]);
      expect(lockIn(await inspectOver(server.url), "lock:queued")?.waiters.length).toBe(0);
    });
  });
}
