import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatHuman, formatJson, type ScenarioResult } from "./report.js";
import { runScenarios } from "./run.js";
import { CLIENT_SCENARIOS } from "./scenarios/index.js";
import { selectScenarios } from "./options.js";

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const script = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
/** How CI runs our own client through the kit: the Node driver, from source. */
const nodeDriver = `cd '${repoRoot}' && exec '${process.execPath}' --conditions=source --import tsx '${script("./drivers/node-driver.ts")}'`;
const brokenDriver = (breakage: string): string =>
  `cd '${repoRoot}' && LEASEHOLD_CONFORMANCE_BREAK=${breakage} exec '${process.execPath}' --conditions=source --import tsx '${script("./testing/broken-driver.ts")}'`;

function run(driverCmd: string, only: string[]): Promise<ScenarioResult[]> {
  return runScenarios({ host: "127.0.0.1", port: 0, driverCmd, only, skip: [], json: true, list: false }, selectScenarios(CLIENT_SCENARIOS, { only, skip: [] }));
}

describe("client conformance", () => {
  it("passes @leasehold/client in every client scenario, and reports each with its section and N passed, M failed", async () => {
    const results = await run(nodeDriver, []);
    expect(results.filter((result) => !result.passed).map((result) => `${result.name}: ${result.error ?? ""}`)).toEqual([]);
    expect(results.map((result) => result.name)).toEqual(CLIENT_SCENARIOS.map((scenario) => scenario.name));
    expect(formatHuman(results)).toMatch(/PASS {2}heartbeat\.pong {2}\[PROTOCOL\.md 5 Heartbeats\][^\n]*\n[\s\S]*\n8 passed, 0 failed\n$/);
    expect(JSON.parse(formatJson(results))).toMatchObject({ mode: "client", passed: 8, failed: 0 });
  }, 180_000);

  it("fails a client that never answers pings in heartbeat.pong", async () => {
    const [result] = await run(brokenDriver("no-pong"), ["heartbeat.pong"]);
    expect(result).toMatchObject({ name: "heartbeat.pong", passed: false });
    expect(result?.error).toMatch(/ping seq 1 got no pong/);
    expect(formatHuman(result ? [result] : [])).toMatch(/0 passed, 1 failed\n$/);
  }, 60_000);

  it("fails a client that answers pings from a timer, late, in heartbeat.pong", async () => {
    const [result] = await run(brokenDriver("late-pong"), ["heartbeat.pong"]);
    expect(result).toMatchObject({ name: "heartbeat.pong", passed: false });
    expect(result?.error).toMatch(/6 of 6 pongs came more than 250 ms after their ping/);
  }, 60_000);

  it("fails a client that re-sends a request refused with close 4000", async () => {
    const results = await run(brokenDriver("resend-refused"), ["refused-4000"]);
    expect(results.map((result) => [result.name, result.passed])).toEqual([
      ["refused-4000.with-id", false],
      ["refused-4000.without-id", false],
    ]);
    for (const result of results) expect(result.error).toMatch(/sent the request refused with close 4000 again/);
  }, 60_000);
});
