import { Driver } from "./driver.js";
import { parseClientArgs, selectScenarios, USAGE, type ClientOptions } from "./options.js";
import { formatHuman, formatJson, type ScenarioResult } from "./report.js";
import type { Scenario } from "./scenario.js";
import { CLIENT_SCENARIOS } from "./scenarios/index.js";
import { ScriptedServer, withTimeout } from "./scripted-server.js";
import { ScenarioFailure } from "./session.js";

/** The longest one scenario may take; the slowest (deadline.pings-stop) needs about 6 s. */
const SCENARIO_TIMEOUT_MS = 30_000;

/**
 * `leasehold-conformance client --listen HOST:PORT --driver-cmd CMD [--only a,b] [--skip c] [--json]`:
 * plays every selected scenario against the client the driver runs, prints the report and returns
 * the exit status (0 all passed, 1 some failed, 2 a usage error).
 */
export async function runClientConformance(argv: string[]): Promise<number> {
  const parsed = parseClientArgs(argv);
  if ("error" in parsed) {
    process.stderr.write(`${parsed.error}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.list) {
    for (const scenario of CLIENT_SCENARIOS) process.stdout.write(`${scenario.name}  (PROTOCOL.md ${scenario.section}): ${scenario.checks}\n`);
    return 0;
  }
  const results = await runScenarios(parsed, selectScenarios(CLIENT_SCENARIOS, parsed));
  process.stdout.write(parsed.json ? formatJson(results) : formatHuman(results));
  return results.every((result) => result.passed) ? 0 : 1;
}

/** Runs `scenarios` one after the other, each with a driver process of its own. */
export async function runScenarios(options: ClientOptions, scenarios: readonly Scenario[]): Promise<ScenarioResult[]> {
  const server = await ScriptedServer.listen(options.host, options.port);
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of scenarios) {
      const result = await runOne(server, options.driverCmd, scenario);
      results.push(result);
      if (!options.json) process.stderr.write(`${result.passed ? "pass" : "FAIL"} ${scenario.name}\n`);
    }
  } finally {
    await server.close();
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
  const base = { name: scenario.name, section: scenario.section, checks: scenario.checks, ms, notes };
  return error === undefined ? { ...base, passed: true } : { ...base, passed: false, error };
}
