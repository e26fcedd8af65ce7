import { FakeClock, clientSafetyMarginMs } from "@leasehold/protocol";
import { describe, expect, it, vi } from "vitest";
import { Calls } from "./calls.js";
import { Term } from "./elections.js";
import { Lease } from "./leases.js";
import { Liveness } from "./liveness.js";
import { Lock } from "./locks.js";

const TTL = 2_000;
const DUE = TTL - clientSafetyMarginMs(TTL);

/**
 * A thawed page (or a process resumed after a pause) runs its own code before its overdue timers:
 * every read of a handle's state checks the deadline itself, so the first look already sees the loss.
 */
describe("handles read after a pause, before the overdue deadline timer has run", () => {
  const reads: [string, (held: Held) => boolean][] = [
    ["lock.held", ({ lock }) => !lock.held],
    ["lock.signal.aborted", ({ lock }) => lock.signal.aborted],
    ["term.leading", ({ term }) => !term.leading],
    ["term.signal.aborted", ({ term }) => term.signal.aborted],
    ["lease.lost", ({ lease }) => lease.lost],
    ["lease.signal.aborted", ({ lease }) => lease.signal.aborted],
  ];

  for (const [name, readsLost] of reads) {
    it(`${name} reports the loss on the first read past the deadline, and the lease is given back once`, () => {
      const held = holdLockAndTerm();
      held.clock.jump(DUE);
      expect(readsLost(held)).toBe(true);
      // Everything under the lease went with it, at that read.
      expect([held.lock.held, held.term.leading, held.lease.lost]).toEqual([false, false, true]);
      expect(held.giveBack).toHaveBeenCalledTimes(1);
      // The overdue timer finally runs and finds nothing left to do.
      held.clock.advance(0);
      expect(held.giveBack).toHaveBeenCalledTimes(1);
      expect(held.clock.pending).toBe(0);
    });
  }

  it("a read a millisecond before the deadline changes nothing", () => {
    const held = holdLockAndTerm();
    held.clock.jump(DUE - 1);
    for (const [name, readsLost] of reads) expect(readsLost(held), name).toBe(false);
    expect(held.giveBack).not.toHaveBeenCalled();
  });
});

interface Held {
  clock: FakeClock;
  lease: Lease;
  lock: Lock;
  term: Term;
  giveBack: () => void;
}

/** A kept-alive lease with a lock and an election term under it, as the client builds them. */
function holdLockAndTerm(): Held {
  const clock = new FakeClock(0);
  const liveness = new Liveness(clock);
  const calls = new Calls({ send: () => true, now: () => clock.now(), heardAt: (sentAt) => liveness.heard(sentAt) });
  const giveBack = vi.fn();
  const lease = new Lease(1, TTL, true, 0, liveness, giveBack);
  liveness.watch(lease);
  const lock = new Lock("lock:a", lease.id, true, 10, { calls, lease, forget: (gone) => lease.locks.delete(gone) });
  const term = new Term("election:a", lease.id, 11, null, { calls, lease, forget: (gone) => lease.locks.delete(gone) });
  lease.locks.add(lock);
  lease.locks.add(term);
  return { clock, lease, lock, term, giveBack };
}
