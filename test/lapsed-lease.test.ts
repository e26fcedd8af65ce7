import { describe, expect, it } from "vitest";
import { LeaseExpiredError } from "@leasehold/client";
import { clientSafetyMarginMs } from "@leasehold/protocol";
import { startClient, startServer } from "./support/fixtures.js";

const TTL = 4_000;

describe("a lease the client gave up on", () => {
  // When the client's own conservative deadline passes (heardAt + ttl - margin) it ends the lease and
  // its locks locally. If the server hears from the session before its own deadline (heardAt + ttl), as
  // it does when a stalled process wakes up and answers the pending ping, the server would keep the
  // lease alive for as long as the session lives, with its locks, and nobody could ever get them (the
  // client has no handle left: Lock.release() is a no-op once the signal has aborted). Hence a lapse
  // gives the lease back to the server, as the resync path does with leases nobody can use.
  // (Regression test: this failed before Lease.lapse() called giveBack.)
  it("is given back to the server, so that its locks go to the next waiter", async () => {
    const server = await startServer();
    const stalled = await startClient(server.url);
    const other = await startClient(server.url);
    const lease = await stalled.leases.grant(TTL);
    const lock = await stalled.locks.acquire("lapsed", lease.id);
    expect(lock.acquired).toBe(true);

    // The server hears from the client at `heard`; the client knows it was heard at `heard` at the latest.
    const heard = performance.now();
    await stalled.leases.timeToLive(lease.id);
    // The process stalls past the client's deadline, but not the server's (margin / 2 on either side).
    const wakeAt = heard + TTL - clientSafetyMarginMs(TTL) / 2;
    while (performance.now() < wakeAt) {
      // A synchronous stall: a long computation or a GC pause.
    }
    const stillThere = stalled.leases.timeToLive(lease.id);

    // The client gives the lease and the lock up, as it should...
    await expect.poll(() => lock.signal.aborted, { timeout: 5_000 }).toBe(true);
    expect(lock.signal.reason).toBeInstanceOf(LeaseExpiredError);
    expect(lease.lost).toBe(true);
    // ...while the server, which heard from it in time, still has the lease (the situation under test).
    expect((await stillThere).remainingMs).toBeGreaterThan(0);

    // Nobody is left who could use that lease: within two TTLs the lock must be free for others.
    const otherLease = await other.leases.grant(TTL);
    const next = await other.locks.acquire("lapsed", otherLease.id, { wait: 2 * TTL });
    expect(next.acquired).toBe(true);
  });
});
