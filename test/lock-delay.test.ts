import { describe, expect, it, vi } from "vitest";
import { FakeClock } from "@leasehold/protocol";
import { crashAndRestart, dataDir, startClient, startServer } from "./support/fixtures.js";

// Lock-delay end to end (the rules themselves are tested on fake time in coordinator.test.ts).
describe("lock-delay", () => {
  it("after an admin takes the lock away, the waiter is granted only once the holder's lockDelayMs has passed; after a release, at once", async () => {
    const server = await startServer();
    const holder = await startClient(server.url);
    const waiter = await startClient(server.url);
    const holderLease = await holder.leases.grant(10_000);
    const waiterLease = await waiter.leases.grant(10_000);

    const first = await holder.locks.acquire("printer", holderLease.id, { lockDelayMs: 600 });
    expect(first.acquired).toBe(true);
    // The waiter's own hold will carry a delay too, a long one: its clean release below must not wait
    // for it (a long delay, so that "at once" and "after the delay" stay apart on a loaded machine).
    const queued = waiter.locks.acquire("printer", waiterLease.id, { wait: true, lockDelayMs: 30_000 });
    await vi.waitFor(async () => expect((await waiter.locks.query("printer")).pending).toHaveLength(1));
    const revokedAt = performance.now();
    expect(await waiter.admin.forceRelease("printer")).toBe(true);
    // A try in the meantime is refused, though nobody holds the lock.
    const other = await startClient(server.url);
    const otherLease = await other.leases.grant(10_000);
    expect((await other.locks.acquire("printer", otherLease.id)).acquired).toBe(false);
    const second = await queued;
    expect(second.acquired).toBe(true);
    expect(performance.now() - revokedAt).toBeGreaterThanOrEqual(600);
    await vi.waitFor(() => expect(first.held).toBe(false));

    // A clean release hands on at once, whatever the hold's delay.
    const third = other.locks.acquire("printer", otherLease.id, { wait: true });
    await vi.waitFor(async () => expect((await other.locks.query("printer")).pending).toHaveLength(1));
    const releasedAt = performance.now();
    await second.release();
    expect((await third).acquired).toBe(true);
    expect(performance.now() - releasedAt).toBeLessThan(15_000);
  });

  it("a lock-delay still running when the server crashes runs on after the restart until its wall-clock end, then the waiter is granted", async () => {
    const dir = dataDir();
    const first = await startServer({ dataDir: dir });
    const holder = await startClient(first.url);
    const lease = await holder.leases.grant(20_000);
    expect((await holder.locks.acquire("printer", lease.id, { lockDelayMs: DELAY_MS })).acquired).toBe(true);
    // Wall-clock time, as the server keeps the delay's end: it starts the delay between these two readings.
    const revokedAfter = Date.now();
    expect(await holder.admin.forceRelease("printer")).toBe(true);
    const revokedBefore = Date.now();

    // The reply came after the commit: a crash now loses nothing acknowledged. The restarted server runs
    // on fake time, its wall clock set to now: the delay's end is then checked to the millisecond,
    // however long the restart took on a busy machine.
    const restartedAt = Date.now();
    const clock = new FakeClock(0, restartedAt);
    const second = await crashAndRestart(first, dir, { clock });
    const next = await startClient(second.url);
    const nextLease = await next.leases.grant(DELAY_MS * 2);
    expect((await next.locks.acquire("printer", nextLease.id)).acquired).toBe(false);
    let granted = false;
    const waiting = next.locks.acquire("printer", nextLease.id, { wait: true });
    waiting.then(
      () => (granted = true),
      () => {},
    );
    await vi.waitFor(async () => expect((await next.locks.query("printer")).pending).toHaveLength(1));
    // Not granted a millisecond before the earliest end the delay can have...
    clock.advance(revokedAfter + DELAY_MS - restartedAt - 1);
    expect((await next.locks.query("printer")).held).toHaveLength(0);
    expect(granted).toBe(false);
    // ...and granted by its latest.
    clock.advance(revokedBefore - revokedAfter + 1);
    expect((await next.locks.query("printer")).held).toHaveLength(1);
    expect((await waiting).acquired).toBe(true);
  });
});

/** Longer than a restart takes on a loaded machine; it costs no wall time (fake time after the restart). */
const DELAY_MS = 60_000;
