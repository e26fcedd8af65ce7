/**
 * How both modes report: one line per scenario as it finishes, `N passed, M failed` at the end,
 * `--json` and `--junit FILE`. One module, so that a server and a client report read alike.
 */
export type Mode = "server" | "client";

/** One scenario's outcome. */
export interface ScenarioResult {
  readonly name: string;
  /** The PROTOCOL.md section it checks. */
  readonly section: string;
  /** Skipped: the run lacked what the scenario needs (server mode's small-limits profile or restart command). */
  readonly status: "passed" | "failed" | "skipped";
  readonly ms: number;
  /** Why it failed or was skipped, in words that name the rule. */
  readonly detail?: string;
  /** Figures measured on the way (client mode: pong latencies, how early a lease was given up). */
  readonly notes?: readonly string[];
}

/** One line per scenario as it finishes, with the reason and the figures measured under it. */
export function progressLine(result: ScenarioResult): string {
  const mark = result.status === "passed" ? "ok  " : result.status === "failed" ? "FAIL" : "skip";
  const under = [result.detail, ...(result.notes ?? [])].filter((line) => line !== undefined).map((line) => `\n       ${line}`);
  return `${mark} ${result.name.padEnd(40)} ${`§${result.section}`.padEnd(60)} ${result.ms} ms${under.join("")}`;
}

/** The last line a person reads: `N passed, M failed` (and skipped, when any). */
export function summaryLine(results: readonly ScenarioResult[]): string {
  const skipped = count(results, "skipped");
  return `${count(results, "passed")} passed, ${count(results, "failed")} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`;
}

/** `--json`: the mode, what was checked (server mode's `url`, client mode's `listen`), the summary line and every result. */
export function jsonReport(mode: Mode, target: { url: string } | { listen: string }, results: readonly ScenarioResult[]): string {
  return JSON.stringify({ mode, ...target, summary: summaryLine(results), results }, null, 2);
}

/** JUnit XML, as CI systems read it: one testsuite per mode, one testcase per scenario. */
export function junitReport(mode: Mode, results: readonly ScenarioResult[]): string {
  const seconds = results.reduce((sum, r) => sum + r.ms, 0) / 1000;
  const cases = results.map((r) => {
    const open = `  <testcase classname="leasehold.${mode}.${xml(r.name.split(".")[0] ?? r.name)}" name="${xml(r.name)} (§${xml(r.section)})" time="${(r.ms / 1000).toFixed(3)}"`;
    const notes = r.notes && r.notes.length > 0 ? `\n    <system-out>${xml(r.notes.join("\n"))}</system-out>` : "";
    if (r.status === "failed") return `${open}>\n    <failure message="${xml(r.detail ?? "")}"/>${notes}\n  </testcase>`;
    if (r.status === "skipped") return `${open}>\n    <skipped message="${xml(r.detail ?? "")}"/>\n  </testcase>`;
    return notes === "" ? `${open}/>` : `${open}>${notes}\n  </testcase>`;
  });
  const counts = `tests="${results.length}" failures="${count(results, "failed")}" skipped="${count(results, "skipped")}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="leasehold-conformance ${mode}" ${counts} time="${seconds.toFixed(3)}">\n${cases.join("\n")}\n</testsuite>\n`;
}

function count(results: readonly ScenarioResult[], status: ScenarioResult["status"]): number {
  return results.filter((r) => r.status === status).length;
}

function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
