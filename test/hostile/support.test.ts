import { describe, expect, it } from "vitest";
import { Bystander, MAX_TURN_CPU_MS, expectShortTurns, measureControl, startTarget } from "./support.js";

describe("hostile test support", () => {
  it("starts a capped server process, reads its memory, and measures a bystander", async () => {
    const target = await startTarget();
    const rss = target.rssBytes();
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(rss).toBeLessThan(1024 * 1024 * 1024);
    const control = await measureControl(target.url);
    const bystander = await Bystander.start(target.url);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const report = await bystander.expectUnharmed(control);
    expect(report.answered).toBeGreaterThan(5);
    expect(target.alive()).toBe(true);
  });

  it("reads the server's turns in periods: the CPU of its longest, and its longest stall", async () => {
    const target = await startTarget();
    await target.turns();
    const bystander = await Bystander.start(target.url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await bystander.expectAnswered(1);
    const turns = await expectShortTurns(target);
    expect(turns.longestCpuMs).toBeGreaterThan(0);
    expect(turns.stalledWallMs).toBeGreaterThan(1);
    // A new period each time: an idle server's is short.
    expect((await target.turns()).longestCpuMs).toBeLessThan(MAX_TURN_CPU_MS);
  });
});
