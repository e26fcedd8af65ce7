import { describe, expect, it } from "vitest";
import { FakeClock } from "@leasehold/protocol";
import { RefusalHolds } from "./refusal-hold.js";

/** A socket that records what the holds did to it. */
function socket(events: string[], name: string) {
  return { pause: () => events.push(`${name} paused`), resume: () => events.push(`${name} resumed`) };
}

describe("RefusalHolds", () => {
  it("answers a held socket after the hold, paused until then and read again just before the answer", () => {
    const clock = new FakeClock(0);
    const holds = new RefusalHolds(clock, 1_000);
    const events: string[] = [];
    const a = socket(events, "a");
    holds.hold(a, () => events.push(`a answered at ${clock.now()}`), () => events.push("a dropped"));
    expect(holds.holds(a)).toBe(true);
    clock.advance(999);
    expect(events).toEqual(["a paused"]);
    clock.advance(1);
    expect(events).toEqual(["a paused", "a resumed", "a answered at 1000"]);
    expect(holds.holds(a)).toBe(false);
  });

  it("answers at once with no hold, and drops every held socket, without its answer, when the server closes", () => {
    const clock = new FakeClock(0);
    const events: string[] = [];
    new RefusalHolds(clock, 0).hold(socket(events, "now"), () => events.push("now answered"), () => events.push("now dropped"));
    expect(events).toEqual(["now answered"]);
    const holds = new RefusalHolds(clock, 1_000);
    holds.hold(socket(events, "a"), () => events.push("a answered"), () => events.push("a dropped"));
    holds.hold(socket(events, "b"), () => events.push("b answered"), () => events.push("b dropped"));
    holds.releaseAll();
    holds.hold(socket(events, "late"), () => events.push("late answered"), () => events.push("late dropped"));
    clock.advance(2_000);
    expect(events).toEqual(["now answered", "a paused", "b paused", "a dropped", "b dropped", "late dropped"]);
    expect(clock.pending).toBe(0);
  });
});
