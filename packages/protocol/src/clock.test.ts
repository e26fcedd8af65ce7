import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeClock, systemClock } from "./clock.js";

describe("FakeClock", () => {
  it("fires due timers in deadline order, and timers of one deadline in the order they were set", () => {
    const clock = new FakeClock(1_000);
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push(`c@${clock.now()}`));
    clock.setTimer(10, () => fired.push(`a@${clock.now()}`));
    clock.setTimer(10, () => fired.push(`b@${clock.now()}`));
    clock.setTimer(-5, () => fired.push(`now@${clock.now()}`));
    clock.advance(20);
    expect(fired).toEqual(["now@1000", "a@1010", "b@1010"]);
    expect(clock.now()).toBe(1_020);
    expect(clock.pending).toBe(1);
    clock.advance(10);
    expect(fired.at(-1)).toBe("c@1030");
  });

  it("fires a timer set by a firing timer when it falls due within the same advance", () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    clock.setTimer(10, () => clock.setTimer(10, () => fired.push(clock.now())));
    clock.advance(25);
    expect(fired).toEqual([20]);
  });

  it("never fires a cancelled timer", () => {
    const clock = new FakeClock();
    const timer = clock.setTimer(10, () => expect.unreachable("a cancelled timer fired"));
    timer.cancel();
    clock.advance(100);
    expect(clock.pending).toBe(0);
  });

  it("jumps without firing anything, as a process waking up; advance(0) then fires what is overdue", () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    clock.setTimer(10, () => fired.push(clock.now()));
    clock.jump(50);
    expect(fired).toEqual([]);
    clock.advance(0);
    expect(fired).toEqual([50]);
  });
});

describe("systemClock", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sets timers that fire after their delay, and that cancel", () => {
    vi.useFakeTimers();
    const fired: string[] = [];
    systemClock.setTimer(100, () => fired.push("kept"));
    systemClock.setTimer(100, () => fired.push("cancelled")).cancel();
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(["kept"]);
  });
});
