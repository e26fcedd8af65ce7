import { describe, expect, it, vi } from "vitest";
import { startClient, startServer } from "./support/fixtures.js";

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
});
