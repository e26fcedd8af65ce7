import { FakeClock } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { BackPressure } from "./back-pressure.js";

function setup() {
  const clock = new FakeClock();
  let resumed = 0;
  const pace = new BackPressure(clock, { pauseBytes: 1_000, retryMs: 25 }, () => resumed++);
  const outlet = { bufferedAmount: 0 };
  return { clock, pace, outlet, resumed: () => resumed };
}

describe("BackPressure", () => {
  it("lets pushes go while the socket holds at most pauseBytes", () => {
    const { pace, outlet, clock } = setup();
    outlet.bufferedAmount = 1_000;
    expect(pace.mayPush(outlet)).toBe(true);
    expect(pace.paused).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it("pauses past pauseBytes, refuses while paused even once drained, and resumes once, retryMs later", () => {
    const { pace, outlet, clock, resumed } = setup();
    outlet.bufferedAmount = 1_001;
    expect(pace.mayPush(outlet)).toBe(false);
    expect(pace.paused).toBe(true);
    outlet.bufferedAmount = 0;
    // Asked again meanwhile (more changes published): still paused, and no second timer.
    expect(pace.mayPush(outlet)).toBe(false);
    expect(clock.pending).toBe(1);
    clock.advance(24);
    expect(resumed()).toBe(0);
    clock.advance(1);
    expect(resumed()).toBe(1);
    expect(pace.paused).toBe(false);
    expect(pace.mayPush(outlet)).toBe(true);
  });

  it("pauses again if the socket is still backed up when it resumes", () => {
    const clock = new FakeClock();
    const outlet = { bufferedAmount: 5_000 };
    let looks = 0;
    const pace: BackPressure = new BackPressure(clock, { pauseBytes: 1_000, retryMs: 25 }, () => {
      looks++;
      pace.mayPush(outlet);
    });
    pace.mayPush(outlet);
    clock.advance(100);
    expect(looks).toBe(4);
    outlet.bufferedAmount = 0;
    clock.advance(25);
    expect(looks).toBe(5);
    expect(pace.paused).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it("never resumes a stopped stream", () => {
    const { pace, outlet, clock, resumed } = setup();
    outlet.bufferedAmount = 2_000;
    pace.mayPush(outlet);
    pace.stop();
    clock.advance(1_000);
    expect(resumed()).toBe(0);
    expect(pace.paused).toBe(false);
  });
});
