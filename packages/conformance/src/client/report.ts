/** One scenario's outcome, as the human report and `--json` give it. */
export interface ScenarioResult {
  name: string;
  /** The PROTOCOL.md section it checks. */
  section: string;
  checks: string;
  passed: boolean;
  ms: number;
  /** Why it failed, in words that name the rule. */
  error?: string;
  /** Figures measured on the way (latencies, what the client did after a loss). */
  notes: string[];
}

/** One line a scenario, the reason under a failure, and `N passed, M failed` last. */
export function formatHuman(results: readonly ScenarioResult[]): string {
  const lines: string[] = [];
  for (const result of results) {
    const notes = result.notes.length > 0 ? ` (${result.notes.join("; ")})` : "";
    lines.push(`${result.passed ? "PASS" : "FAIL"}  ${result.name}  [PROTOCOL.md ${result.section}]  ${result.ms} ms${notes}`);
    if (result.error !== undefined) lines.push(`      ${result.error}`);
  }
  lines.push(summary(results));
  return `${lines.join("\n")}\n`;
}

export function formatJson(results: readonly ScenarioResult[]): string {
  const passed = results.filter((result) => result.passed).length;
  return `${JSON.stringify({ mode: "client", passed, failed: results.length - passed, scenarios: results }, null, 2)}\n`;
}

function summary(results: readonly ScenarioResult[]): string {
  const passed = results.filter((result) => result.passed).length;
  return `${passed} passed, ${results.length - passed} failed`;
}
