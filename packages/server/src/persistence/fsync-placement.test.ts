import { describe, expect, it } from "vitest";
import { FakeClock } from "@leasehold/protocol";
import { FsyncPlacement, SLOW_IN_A_ROW, fsyncInFromEnvironment } from "./fsync-placement.js";

/** An fsync that takes `ms` of the fake clock's time. */
function taking(clock: FakeClock, ms: number): () => void {
  return () => clock.advance(ms);
}

describe("FsyncPlacement", () => {
  it("keeps fsyncs inline while they are fast, and while fewer than SLOW_IN_A_ROW in a row were slow", () => {
    const clock = new FakeClock();
    const placement = new FsyncPlacement(clock, 0.1, 1_000);
    for (let round = 0; round < 5; round++) {
      for (let slow = 0; slow < SLOW_IN_A_ROW - 1; slow++) {
        expect(placement.inline()).toBe(true);
        placement.timeInline(taking(clock, 5));
      }
      // A fast one between: a preempted thread, not a slow disk.
      expect(placement.inline()).toBe(true);
      placement.timeInline(taking(clock, 0.01));
    }
    expect(placement.inline()).toBe(true);
  });

  it("sends fsyncs to the pool after SLOW_IN_A_ROW slow ones, probes inline once per interval, and comes back inline on a fast probe", () => {
    const clock = new FakeClock();
    const placement = new FsyncPlacement(clock, 0.1, 1_000);
    for (let slow = 0; slow < SLOW_IN_A_ROW; slow++) placement.timeInline(taking(clock, 5));
    expect(placement.inline()).toBe(false);
    clock.advance(999);
    expect(placement.inline()).toBe(false);
    clock.advance(1);
    // The probe: still slow, so another interval in the pool.
    expect(placement.inline()).toBe(true);
    placement.timeInline(taking(clock, 5));
    expect(placement.inline()).toBe(false);
    clock.advance(1_000);
    expect(placement.inline()).toBe(true);
    placement.timeInline(taking(clock, 0.01));
    expect(placement.inline()).toBe(true);
  });

  it("lets what the fsync throws through, timing nothing", () => {
    const placement = new FsyncPlacement(new FakeClock());
    expect(() =>
      placement.timeInline(() => {
        throw new Error("EIO");
      }),
    ).toThrow("EIO");
    expect(placement.inline()).toBe(true);
  });
});

describe("fsyncInFromEnvironment", () => {
  it("reads LEASEHOLD_BENCH_FSYNC_IN: unset or measured is the server's own choice, pool and inline force it", () => {
    expect(fsyncInFromEnvironment(undefined)).toBe("measured");
    expect(fsyncInFromEnvironment("")).toBe("measured");
    expect(fsyncInFromEnvironment("measured")).toBe("measured");
    expect(fsyncInFromEnvironment("pool")).toBe("pool");
    expect(fsyncInFromEnvironment("inline")).toBe("inline");
  });

  it("refuses anything else, saying what it takes", () => {
    expect(() => fsyncInFromEnvironment("thread")).toThrow(/LEASEHOLD_BENCH_FSYNC_IN=thread is not understood: set it to pool, inline or measured/);
  });
});
