import { describe, expect, it } from "vitest";
import { Bystander, measureControl, startTarget } from "./support.js";

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
});
