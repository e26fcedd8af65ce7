/**
 * One scenario's outcome, in the shape the server mode reports (`server/runner.ts`'s ScenarioResult),
 * so that both modes print, serialise and count results the same way.
 */
export interface ScenarioResult {
  readonly name: string;
  /** The PROTOCOL.md section it checks. */
  readonly section: string;
  readonly status: "passed" | "failed";
  readonly ms: number;
  /** Why it failed, in words that name the rule. */
  readonly detail?: string;
  /** Figures measured on the way (pong latencies, how early a lease was given up, what the client did after). */
  readonly notes: readonly string[];
}

/** One line per scenario as it finishes, with the reason (or the figures measured) under it. */
export function progressLine(result: ScenarioResult): string {
  const mark = result.status === "passed" ? "ok  " : "FAIL";
  const under = [result.detail, ...result.notes].filter((line) => line !== undefined).map((line) => `\n       ${line}`);
  return `${mark} ${result.name.padEnd(40)} ${`§${result.section}`.padEnd(60)} ${result.ms} ms${under.join("")}`;
}

/** The last line a person reads. */
export function summaryLine(results: readonly ScenarioResult[]): string {
  const passed = results.filter((result) => result.status === "passed").length;
  return `${passed} passed, ${results.length - passed} failed`;
}

/** `--json`: where the kit listened, the summary line and every result. */
export function jsonReport(listen: string, results: readonly ScenarioResult[]): string {
  return JSON.stringify({ mode: "client", listen, summary: summaryLine(results), results }, null, 2);
}
