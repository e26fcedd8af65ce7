import { writeFile } from "node:fs/promises";
import { jsonReport, junitReport, progressLine, summaryLine, type ScenarioResult } from "../report.js";
import { Driver } from "./driver.js";
import { parseClientArgs, selectScenarios, USAGE } from "./options.js";
import type { Scenario } from "./scenario.js";
import { CLIENT_SCENARIOS } from "./scenarios/index.js";
import { ScriptedServer } from "./scripted-server.js";
import { ScenarioFailure, withTimeout } from "./verdict.js";

/** The longest one scenario may take; the slowest (deadline.pings-stop) needs about 6 s. */
const SCENARIO_TIMEOUT_MS = 30_000;

/**
 * `leasehold-conformance client --driver-cmd CMD [--listen HOST:PORT] [--only a,b] [--skip c] [--json] [--junit FILE]`:
 * plays every selected scenario against the client the driver runs and prints the report. The exit
 * status is 0 when every selected scenario passed, 1 otherwise, 2 on bad usage.
 */
export async function runClientConformance(argv: string[]): Promise<number> {
  const options = parseClientArgs(argv);
  if ("help" in options) return (process.stdout.write(`${USAGE}\n`), 0);
  if ("list" in options) {
    for (const scenario of CLIENT_SCENARIOS) process.stdout.write(`${scenario.name.padEnd(40)} §${scenario.section}\n`);
    return 0;
  }
  if ("error" in options) return (process.stderr.write(`${options.error}\n${USAGE}\n`), 2);
  const server = await ScriptedServer.listen(options.host, options.port);
  const listen = `ws://${server.authority}`;
  if (!options.json) process.stdout.write(`scripted server at ${listen}/<scenario>\n`);
  let results: ScenarioResult[];
  try {
    results = await runScenarios(server, options.driverCmd, selectScenarios(CLIENT_SCENARIOS, options), options.json ? undefined : (result) => process.stdout.write(`${progressLine(result)}\n`));
  } finally {
    await server.close();
  }
  if (options.junit !== undefined) await writeFile(options.junit, junitReport("client", results));
  process.stdout.write(options.json ? `${jsonReport("client", { listen }, results)}\n` : `${summaryLine(results)}\n`);
  return results.some((result) => result.status === "failed") || results.length === 0 ? 1 : 0;
}

/** Runs `scenarios` one after the other on `server`, each with a driver process of its own. */
export async function runScenarios(server: ScriptedServer, driverCmd: string, scenarios: readonly Scenario[], onResult?: (result: ScenarioResult) => void): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    const result = await runOne(server, driverCmd, scenario);
    results.push(result);
    onResult?.(result);
  }
  return results;
}

async function runOne(server: ScriptedServer, driverCmd: string, scenario: Scenario): Promise<ScenarioResult> {
  const stage = server.open(scenario.name);
  // A driver per scenario: what one client did wrong cannot spill into the next scenario.
  const driver = Driver.start(driverCmd);
  const notes: string[] = [];
  const started = performance.now();
  let error: string | undefined;
  try {
    await withTimeout(scenario.run({ stage, driver, note: (text) => notes.push(text) }), SCENARIO_TIMEOUT_MS, `the scenario did not finish within ${SCENARIO_TIMEOUT_MS} ms`);
  } catch (caught) {
    error = caught instanceof ScenarioFailure ? caught.message : `the kit failed (a bug in the kit, not in the client): ${caught instanceof Error ? (caught.stack ?? caught.message) : String(caught)}`;
  } finally {
    stage.end();
    await driver.stop();
  }
  const ms = Math.round(performance.now() - started);
  const base = { name: scenario.name, section: scenario.section, ms, notes };
  return error === undefined ? { ...base, status: "passed" } : { ...base, status: "failed", detail: error };
}
