import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/fixtures.js";

// Memory per idle session: `leasehold serve` imports packages/server/src/young-generation.ts first, which
// stops V8 from growing its young generation (to 16 MiB semi-spaces on Node 20) when many young objects
// survive, as when sessions open. A process of its own per case: V8's flags are the whole process's.

/** Semi-spaces of 1 MiB: V8 reports the new space's size as 2 MiB then (Node 20). */
const SMALL_YOUNG_GENERATION = 2 * 1024 * 1024;
const BUILT_MODULE = pathToFileURL(join(repoRoot, "packages/server/dist/young-generation.js")).href;

describe("the server's young generation", () => {
  it("stays at its starting size while objects that live on are allocated, as when sessions open", () => {
    expect(newSpaceAfterSurvivors([])).toBeLessThanOrEqual(SMALL_YOUNG_GENERATION);
  });

  it("is left to the operator's own --max-semi-space-size", () => {
    expect(newSpaceAfterSurvivors(["--max-semi-space-size=16"])).toBeGreaterThan(SMALL_YOUNG_GENERATION);
  });
});

/**
 * In a fresh Node process with `nodeArgs`: imports the built module, then keeps 20,000 small objects
 * (about what 100 sessions keep) while making ten times as much garbage, and returns the new space's size.
 */
function newSpaceAfterSurvivors(nodeArgs: string[]): number {
  const script = `
import { getHeapSpaceStatistics } from "node:v8";
await import(${JSON.stringify(BUILT_MODULE)});
const kept = [];
for (let i = 0; i < 20000; i++) {
  kept.push({ index: i, name: "session-" + i, backing: new Array(20).fill(i) });
  for (let j = 0; j < 10; j++) void { j, garbage: "frame-" + j };
}
const space = getHeapSpaceStatistics().find((each) => each.space_name === "new_space");
process.stdout.write(String(space.space_size) + " " + kept.length);
`;
  const output = execFileSync(process.execPath, [...nodeArgs, "--input-type=module", "-e", script], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  return Number(output.split(" ")[0]);
}
