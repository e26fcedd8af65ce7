import { describe, expect, it } from "vitest";
import { LockMonitor } from "./lock-monitor.js";

describe("LockMonitor handoffs", () => {
  it("times a handoff from the release's reply to the next grant", () => {
    const monitor = new LockMonitor(true);
    monitor.granted(0, 1, 0);
    const release = monitor.releasing(10);
    monitor.released(release, true, 12);
    monitor.granted(1, 2, 15);
    expect(monitor.handoff.sorted()).toEqual(new Float64Array([3]));
    expect(monitor.handoffFromCall.sorted()).toEqual(new Float64Array([5]));
  });

  it("counts 0 for a grant seen before the releaser's reply, even when the new holder releases before that reply", () => {
    // The queue-depth row with two waiters on one connection: the grant and the old holder's reply come
    // in one read, the grant first; the new holder releases at once, then the old holder's reply is read.
    const monitor = new LockMonitor(true);
    monitor.granted(0, 1, 0);
    const first = monitor.releasing(10);
    monitor.granted(1, 2, 20);
    const second = monitor.releasing(21);
    monitor.released(first, true, 22);
    monitor.granted(2, 3, 40);
    monitor.released(second, true, 41);
    // Both grants overtook their release's reply: nothing was waited for after either reply.
    expect(monitor.handoff.sorted()).toEqual(new Float64Array([0, 0]));
    expect(monitor.handoffFromCall.sorted()).toEqual(new Float64Array([10, 19]));
    expect(monitor.exclusionViolations).toBe(0);
  });

  it("forgets a pending release on reset", () => {
    const monitor = new LockMonitor(true);
    monitor.granted(0, 1, 0);
    monitor.releasing(10);
    monitor.reset();
    monitor.granted(1, 2, 20);
    expect(monitor.handoff.size).toBe(0);
  });
});
