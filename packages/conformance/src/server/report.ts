import type { ScenarioResult } from "./runner.js";

/** One line per scenario as it finishes. */
export function progressLine(result: ScenarioResult): string {
  const mark = result.status === "passed" ? "ok  " : result.status === "failed" ? "FAIL" : "skip";
  const detail = result.detail ? `\n       ${result.detail}` : "";
  return `${mark} ${result.name.padEnd(40)} ${`§${result.section}`.padEnd(60)} ${result.ms} ms${detail}`;
}

/** The last line a person reads: `N passed, M failed` (and skipped, when any). */
export function summaryLine(results: readonly ScenarioResult[]): string {
  const count = (status: ScenarioResult["status"]) => results.filter((r) => r.status === status).length;
  const skipped = count("skipped");
  return `${count("passed")} passed, ${count("failed")} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`;
}

export function jsonReport(url: string, results: readonly ScenarioResult[]): string {
  return JSON.stringify({ url, summary: summaryLine(results), results }, null, 2);
}

/** JUnit XML, as CI systems read it: one testsuite, one testcase per scenario. */
export function junitReport(results: readonly ScenarioResult[]): string {
  const failures = results.filter((r) => r.status === "failed").length;
  const skipped = results.filter((r) => r.status === "skipped").length;
  const seconds = results.reduce((sum, r) => sum + r.ms, 0) / 1000;
  const cases = results.map((r) => {
    const open = `  <testcase classname="leasehold.server.${xml(r.name.split(".")[0] ?? r.name)}" name="${xml(r.name)} (§${xml(r.section)})" time="${(r.ms / 1000).toFixed(3)}"`;
    if (r.status === "failed") return `${open}>\n    <failure message="${xml(r.detail ?? "")}"/>\n  </testcase>`;
    if (r.status === "skipped") return `${open}>\n    <skipped message="${xml(r.detail ?? "")}"/>\n  </testcase>`;
    return `${open}/>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="leasehold-conformance server" tests="${results.length}" failures="${failures}" skipped="${skipped}" time="${seconds.toFixed(3)}">\n${cases.join("\n")}\n</testsuite>\n`;
}

function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
