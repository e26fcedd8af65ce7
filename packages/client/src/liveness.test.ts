import { ErrorCode, FakeClock, clientSafetyMarginMs, type Clock, type Timer } from "@leasehold/protocol";
import { describe, expect, it, vi } from "vitest";
import { LeaseExpiredError } from "./errors.js";
import { Lease } from "./leases.js";
import { Liveness, type Deadline } from "./liveness.js";

describe("clientSafetyMarginMs", () => {
  it("is 5% of the TTL, at least 20 ms and at most 1 s", () => {
    expect(clientSafetyMarginMs(2_000)).toBe(100);
    expect(clientSafetyMarginMs(100)).toBe(20);
    expect(clientSafetyMarginMs(400)).toBe(20);
    expect(clientSafetyMarginMs(10_000)).toBe(500);
    expect(clientSafetyMarginMs(60_000)).toBe(1_000);
  });
});

describe("Liveness on fake time", () => {
  it("lapses a kept-alive item at heardAt + ttl - margin, not a millisecond before", () => {
    const clock = new FakeClock(1_000);
    const liveness = new Liveness(clock);
    expect(liveness.heardAt).toBe(1_000);
    const ttls = [100, 1_000, 2_000, 30_000];
    const lapsedAt = new Map<number, number>();
    for (const ttl of ttls) liveness.watch(keptAlive(liveness, ttl, () => lapsedAt.set(ttl, clock.now())));

    for (const ttl of ttls) {
      const due = 1_000 + ttl - clientSafetyMarginMs(ttl);
      clock.advance(due - 1 - clock.now());
      expect(lapsedAt.has(ttl), `ttl ${ttl} lapsed before ${due}`).toBe(false);
      clock.advance(1);
      expect(lapsedAt.get(ttl), `ttl ${ttl}`).toBe(due);
    }
    expect(lapsedAt.size).toBe(ttls.length);
    // Nothing left to watch: no timer stays behind.
    expect(clock.pending).toBe(0);
  });

  it("moves a kept-alive deadline when the server is heard, but never backwards", () => {
    const clock = new FakeClock(0);
    const liveness = new Liveness(clock);
    const ttl = 2_000;
    const margin = clientSafetyMarginMs(ttl);
    const lapse = vi.fn();
    liveness.watch(keptAlive(liveness, ttl, lapse));

    clock.advance(1_000);
    liveness.heard(700); // the reply to a request sent at 700 arrived
    expect(liveness.heardAt).toBe(700);
    liveness.heard(300); // an older request's reply arrives late: no step back
    expect(liveness.heardAt).toBe(700);

    // The timer set for the old deadline fires early, finds nothing due, and re-arms.
    clock.advance(ttl - margin - clock.now());
    expect(lapse).not.toHaveBeenCalled();
    clock.advance(700 + ttl - margin - 1 - clock.now());
    expect(lapse).not.toHaveBeenCalled();
    clock.advance(1);
    expect(lapse).toHaveBeenCalledTimes(1);
    expect(clock.now()).toBe(700 + ttl - margin);
  });

  it("counts a fixed deadline from the renewal, whatever is heard", () => {
    const clock = new FakeClock(0);
    const liveness = new Liveness(clock);
    const ttl = 1_000;
    let renewedAt = 200;
    const lapse = vi.fn();
    liveness.watch({ deadline: () => liveness.fixedDeadline(renewedAt, ttl), lapse });

    clock.advance(500);
    liveness.heard(500);
    const due = 200 + ttl - clientSafetyMarginMs(ttl);
    clock.advance(due - 1 - clock.now());
    expect(lapse).not.toHaveBeenCalled();
    renewedAt = 900; // a renew sent at 900 was acknowledged just in time
    clock.advance(1);
    expect(lapse).not.toHaveBeenCalled();
    clock.advance(900 + ttl - clientSafetyMarginMs(ttl) - clock.now());
    expect(lapse).toHaveBeenCalledTimes(1);
  });

  it("takes a pong's send time, not its acknowledgement's arrival, as proof of being heard", () => {
    const clock = new FakeClock(1_000);
    const liveness = new Liveness(clock);
    const ttl = 2_000;
    const margin = clientSafetyMarginMs(ttl);
    const lapse = vi.fn();
    liveness.watch(keptAlive(liveness, ttl, lapse));

    clock.advance(500);
    liveness.pongSent(1); // at 1500
    clock.advance(300);
    liveness.pongSent(2); // at 1800
    clock.advance(300);
    liveness.pongSent(3); // at 2100
    clock.advance(200);

    liveness.pongAcknowledged(0); // no pong heard yet
    expect(liveness.heardAt).toBe(1_000);
    liveness.pongAcknowledged(2); // at 2300: the server heard pong 2, sent at 1800
    expect(liveness.heardAt).toBe(1_800);
    liveness.pongAcknowledged(1); // stale: forgotten with the ack of 2, and older anyway
    expect(liveness.heardAt).toBe(1_800);

    clock.advance(1_800 + ttl - margin - 1 - clock.now());
    expect(lapse).not.toHaveBeenCalled();
    liveness.pongAcknowledged(3);
    expect(liveness.heardAt).toBe(2_100);
    clock.advance(2_100 + ttl - margin - 1 - clock.now());
    expect(lapse).not.toHaveBeenCalled();
    clock.advance(1);
    expect(lapse).toHaveBeenCalledTimes(1);
  });

  it("forgets unwatched items, and stop() cancels the timer", () => {
    const clock = new FakeClock(0);
    const liveness = new Liveness(clock);
    const kept = vi.fn();
    const dropped = vi.fn();
    const droppedItem = keptAlive(liveness, 1_000, dropped);
    liveness.watch(keptAlive(liveness, 5_000, kept));
    liveness.watch(droppedItem);
    liveness.unwatch(droppedItem);
    clock.advance(2_000);
    expect(dropped).not.toHaveBeenCalled();
    expect(clock.pending).toBe(1);
    liveness.stop();
    expect(clock.pending).toBe(0);
    clock.advance(10_000);
    expect(kept).not.toHaveBeenCalled();
  });

  it("ends a real Lease handle with LEASE_EXPIRED when its deadline passes", () => {
    const clock = new FakeClock(0);
    const liveness = new Liveness(clock);
    const givenBack = vi.fn();
    const lease = new Lease(7, 3_000, true, 0, liveness, givenBack);
    liveness.watch(lease);
    clock.advance(3_000 - clientSafetyMarginMs(3_000) - 1);
    expect(lease.lost).toBe(false);
    clock.advance(1);
    expect(lease.lost).toBe(true);
    expect(lease.signal.reason).toBeInstanceOf(LeaseExpiredError);
    expect((lease.signal.reason as LeaseExpiredError).code).toBe(ErrorCode.LEASE_EXPIRED);
    // Given up locally: the server is asked to end it too.
    expect(givenBack).toHaveBeenCalledTimes(1);
  });

  it("aborts a lease signal taken before the end, after telling the owner, exactly once", () => {
    const clock = new FakeClock(0);
    const liveness = new Liveness(clock);
    const order: string[] = [];
    const lease = new Lease(8, 3_000, true, 0, liveness, async () => {}, () => order.push("ended"));
    const signal = lease.signal; // the signal is made lazily: here before the end
    signal.addEventListener("abort", () => order.push(`aborted: ${(signal.reason as LeaseExpiredError).code}`));
    liveness.watch(lease);
    clock.advance(3_000);
    lease.end(new LeaseExpiredError(ErrorCode.LEASE_EXPIRED, "again"));
    expect(order).toEqual(["ended", `aborted: ${ErrorCode.LEASE_EXPIRED}`]);
    expect(lease.signal).toBe(signal);
  });
});

describe("Liveness after a pause (time moves, timers have not run yet)", () => {
  it("checkDue() is a no-op before the earliest deadline and does not even look at the items", () => {
    const clock = new PausedClock();
    const liveness = new Liveness(clock);
    const lapse = vi.fn();
    const item = keptAlive(liveness, 2_000, lapse);
    const deadline = vi.spyOn(item, "deadline");
    liveness.watch(item);
    const due = 2_000 - clientSafetyMarginMs(2_000);
    expect(clock.armedAt()).toEqual([due]);

    deadline.mockClear();
    clock.time = due - 1;
    for (let i = 0; i < 100; i++) liveness.checkDue();
    expect(deadline).not.toHaveBeenCalled();
    expect(lapse).not.toHaveBeenCalled();
  });

  it("checkDue() lapses overdue items at once when the process wakes after their deadline", () => {
    const clock = new PausedClock();
    const liveness = new Liveness(clock);
    const lapse = vi.fn();
    liveness.watch(keptAlive(liveness, 2_000, lapse));

    clock.time = 60_000; // the process slept; its timer is still waiting to run
    liveness.checkDue(); // a message arrived and is handled first
    expect(lapse).toHaveBeenCalledTimes(1);
    liveness.checkDue();
    expect(lapse).toHaveBeenCalledTimes(1);
    expect(clock.armedAt()).toEqual([]);
  });

  it("check() lapses only what is overdue and re-arms for the next deadline", () => {
    const clock = new PausedClock();
    const liveness = new Liveness(clock);
    const short = vi.fn();
    const long = vi.fn();
    liveness.watch(keptAlive(liveness, 1_000, short));
    liveness.watch(keptAlive(liveness, 10_000, long));
    const longDue = 10_000 - clientSafetyMarginMs(10_000);

    clock.time = 3_000;
    liveness.check();
    expect(short).toHaveBeenCalledTimes(1);
    expect(long).not.toHaveBeenCalled();
    // The overdue timer may stay armed (it fires early at worst); once it runs, it re-arms for the next deadline.
    expect(Math.max(...clock.armedAt())).toBeLessThanOrEqual(longDue);
    clock.runDue();
    expect(short).toHaveBeenCalledTimes(1);
    expect(long).not.toHaveBeenCalled();
    expect(clock.armedAt()).toEqual([longDue]);

    clock.time = longDue - 1;
    liveness.checkDue();
    expect(long).not.toHaveBeenCalled();
    clock.time = longDue;
    liveness.checkDue();
    expect(long).toHaveBeenCalledTimes(1);
  });
});

/** An item that lives `ttl` after the last proof of life, like a kept-alive lease. */
function keptAlive(liveness: Liveness, ttl: number, lapse: () => void): Deadline {
  return { deadline: () => liveness.keptAliveDeadline(ttl), lapse };
}

/**
 * A clock whose timers never fire on their own: time jumps the way a process sees it when it wakes
 * from a pause, before its overdue timers have had a chance to run.
 */
class PausedClock implements Clock {
  time = 0;
  readonly #timers: { at: number; callback: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.time;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const timer = { at: this.time + Math.max(0, delayMs), callback, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** The event loop catches up: runs the timers that are due now, in deadline order. */
  runDue(): void {
    for (;;) {
      const due = this.#timers.filter((timer) => !timer.cancelled && timer.at <= this.time).sort((a, b) => a.at - b.at)[0];
      if (!due) return;
      due.cancelled = true;
      due.callback();
    }
  }

  /** When the live timers would fire. */
  armedAt(): number[] {
    return this.#timers.filter((timer) => !timer.cancelled).map((timer) => timer.at);
  }
}
