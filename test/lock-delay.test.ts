import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { defer, startClient, startServer } from "./support/fixtures.js";
import { freePort, startServerProcess } from "./support/server-process.js";

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

  it("a lock-delay still running when the server is killed runs on after the restart until its wall-clock end, then the waiter is granted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-data-"));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const first = await startServerProcess(["--port", String(port), "--data", dir]);
    const holder = await startClient(first.url);
    const lease = await holder.leases.grant(20_000);
    expect((await holder.locks.acquire("printer", lease.id, { lockDelayMs: DELAY_MS })).acquired).toBe(true);
    // Wall-clock time, as the server keeps the delay's end; taken before the server starts the delay.
    const revokedAt = Date.now();
    expect(await holder.admin.forceRelease("printer")).toBe(true);
    // The reply came after the commit: a SIGKILL now loses nothing acknowledged.
    const killed = new Promise((resolve) => first.child.process.once("exit", resolve));
    first.child.process.kill("SIGKILL");
    await killed;

    const second = await startServerProcess(["--port", String(port), "--data", dir]);
    const next = await startClient(second.url);
    const nextLease = await next.leases.grant(20_000);
    // A restart takes well under DELAY_MS: the delay still runs.
    expect((await next.locks.acquire("printer", nextLease.id)).acquired).toBe(false);
    const granted = await next.locks.acquire("printer", nextLease.id, { wait: true });
    const grantedAt = Date.now();
    expect(granted.acquired).toBe(true);
    expect(grantedAt - revokedAt).toBeGreaterThanOrEqual(DELAY_MS);
    expect(grantedAt - revokedAt).toBeLessThan(DELAY_MS + 5_000);
  });
});

/** Longer than a restart of the server process takes on a loaded machine, short enough for a quick test. */
const DELAY_MS = 5_000;
