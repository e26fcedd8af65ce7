import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FAULT_KINDS } from "../../bench/src/chaos/history.js";
import type { ChaosSummary } from "../../bench/src/chaos/report.js";
import { defer, repoRoot } from "../support/fixtures.js";

/**
 * Issue 12, guarantee 6, as CI runs it: `npm run chaos -- --minutes 1` against one durable server and
 * against a cluster (3 etcd members, 3 gateways), and its checker finds no violation. The checker's rules
 * are unit-tested in bench/src/chaos/checker.test.ts. Both runs are in this one file so that they run
 * one after the other: side by side they would share the 2 cores (a cluster pass took 99 to 118 s,
 * the single-node pass 82 to 102 s, at a load of 17 to 22).
 */
describe("a one-minute nemesis run (kill -9, SIGSTOP, paused, cut and blackholed clients) keeps every guarantee", () => {
  it("against one durable server", async () => {
    const summary = await runChaos(["--topology", "single"]);
    expect(summary.faultTargets["kill-member server"]).toBeGreaterThan(0);
  });

  it("against a cluster: 3 etcd members and 3 gateways, the leading gateway and etcd members killed and paused", async () => {
    const summary = await runChaos(["--topology", "cluster"]);
    const hit = Object.keys(summary.faultTargets);
    // The nemesis hits the leading gateway, an etcd member and a following gateway in turn.
    expect(hit.some((target) => /-member gateway \(leader\)$/.test(target)), hit.join(", ")).toBe(true);
    expect(hit.some((target) => /-member etcd$/.test(target)), hit.join(", ")).toBe(true);
  });
});

/** Runs the chaos runner to its end and returns its summary, once it passed with every kind of fault. */
async function runChaos(args: string[]): Promise<ChaosSummary> {
  const out = mkdtempSync(join(tmpdir(), "leasehold-chaos-test-"));
  defer(() => rmSync(out, { recursive: true, force: true }));
  const runner = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "bench/src/chaos/run.ts", "--minutes", "1", "--out", out, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // The runner stops its servers and workers on SIGTERM (a test that times out).
  defer(() => runner.kill("SIGTERM"));
  let stdout = "";
  let stderr = "";
  runner.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  runner.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => runner.on("exit", resolve));

  expect(code, stderr).toBe(0);
  const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as ChaosSummary;
  expect(summary.passed, stderr).toBe(true);
  // Every kind of fault was injected, and the workload went on through them.
  for (const kind of FAULT_KINDS) expect(summary.faults[kind], `${kind}\n${stderr}`).toBeGreaterThan(0);
  expect(summary.counts.grants).toBeGreaterThan(100);
  expect(summary.counts.putsAcknowledged).toBeGreaterThan(100);
  // A read after every heal, and one at the end.
  expect(summary.counts.reads).toBeGreaterThan(Object.values(summary.faults).reduce((sum, count) => sum + count, 0));
  return summary;
}
