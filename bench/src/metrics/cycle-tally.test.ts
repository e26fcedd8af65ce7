import { describe, expect, it } from "vitest";
import { CycleTally } from "./cycle-tally.js";
import { jainIndex } from "./stats.js";

describe("jainIndex", () => {
  it("is 1 when every client did as many, 1/n when one did everything", () => {
    expect(jainIndex([5, 5, 5, 5])).toBe(1);
    expect(jainIndex([8, 0, 0, 0])).toBe(0.25);
    // (1 + 3)² / (2 · (1 + 9)) = 16 / 20
    expect(jainIndex([1, 3])).toBeCloseTo(0.8, 12);
  });

  it("has no value without clients or without any count", () => {
    expect(jainIndex([])).toBeNaN();
    expect(jainIndex([0, 0])).toBeNaN();
  });
});

describe("CycleTally", () => {
  it("counts cycles per client and takes percentiles of whole cycles and of acquire waits apart", () => {
    const tally = new CycleTally(2);
    for (let cycle = 1; cycle <= 100; cycle++) tally.completed(cycle % 2, cycle, cycle / 10);
    tally.refused += 3;
    expect(tally.cycles).toBe(100);
    expect(tally.summary()).toEqual({
      cycleP50Ms: 50,
      cycleP99Ms: 99,
      waitP50Ms: 5,
      waitP99Ms: 9.9,
      jain: 1,
      fewestCyclesShare: 1,
      fenceRefused: 3,
    });
  });

  it("shows a starved client that Jain's index all but hides", () => {
    const tally = new CycleTally(100);
    for (let client = 1; client < 100; client++) for (let cycle = 0; cycle < 10; cycle++) tally.completed(client, 1, 0);
    const summary = tally.summary();
    expect(summary.jain).toBeCloseTo(0.99, 12);
    expect(summary.fewestCyclesShare).toBe(0);
  });

  it("has no fairness figures when nothing completed", () => {
    const summary = new CycleTally(3).summary();
    expect(summary.jain).toBeNaN();
    expect(summary.fewestCyclesShare).toBeNaN();
    expect(summary.cycleP99Ms).toBeNaN();
  });
});
