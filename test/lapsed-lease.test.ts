import { describe, expect, it } from "vitest";
import { LeaseExpiredError } from "@leasehold/client";
import { FakeClock } from "@leasehold/protocol";
import { startClient, startServer } from "./support/fixtures.js";

const TTL = 1_000;

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
    // The stall, seen from the client: its clock jumps past its deadline while the server's does not
    // move and the connection stays up (what a paused process or a long GC looks like on waking; a
    // busy-wait of 3.9 s stood for it before).
    const stalledClock = new FakeClock(0);
    const stalled = await startClient(server.url, { clock: stalledClock });
    const other = await startClient(server.url);
    const lease = await stalled.leases.grant(TTL);
    const lock = await stalled.locks.acquire("lapsed", lease.id);
    expect(lock.acquired).toBe(true);

    // Sent before the stall ends, so answered before the lapse's give-back, on the same connection.
    const stillThere = stalled.leases.timeToLive(lease.id);
    stalledClock.advance(TTL);

    // The client gives the lease and the lock up, as it should...
    expect(lock.signal.aborted).toBe(true);
    expect(lock.signal.reason).toBeInstanceOf(LeaseExpiredError);
    expect(lease.lost).toBe(true);
    // ...while the server, which goes on hearing from it, still had the lease (the situation under test):
    // its heartbeats alone would keep it, and its lock, for as long as the session lives.
    expect((await stillThere).remainingMs).toBeGreaterThan(0);

    // Nobody is left who could use that lease: within two TTLs the lock must be free for others.
    const otherLease = await other.leases.grant(TTL);
    const next = await other.locks.acquire("lapsed", otherLease.id, { wait: 2 * TTL });
    expect(next.acquired).toBe(true);
  });
});
