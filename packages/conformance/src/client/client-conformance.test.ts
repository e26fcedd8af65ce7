import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { runClientConformance } from "./run.js";
import { CLIENT_SCENARIOS } from "./scenarios/index.js";

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const script = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
/** How CI runs our own client through the kit: the Node driver, from source. */
const nodeDriver = `cd '${repoRoot}' && exec '${process.execPath}' --conditions=source --import tsx '${script("./drivers/node-driver.ts")}'`;
/** The same driver with one client behaviour broken on purpose (testing/broken-driver.ts). */
const brokenDriver = (breakage: string): string =>
  `cd '${repoRoot}' && LEASEHOLD_CONFORMANCE_BREAK=${breakage} exec '${process.execPath}' --conditions=source --import tsx '${script("./testing/broken-driver.ts")}'`;

interface Report {
  summary: string;
  results: Array<{ name: string; section: string; status: string; detail?: string; notes: string[] }>;
}

describe("client conformance", () => {
  it("passes @leasehold/client in every client scenario (the --json report, exit status 0)", async () => {
    const { status, out } = await cli(["--listen", "127.0.0.1:0", "--driver-cmd", nodeDriver, "--json"]);
    const report = JSON.parse(out) as Report;
    expect(report.results.filter((result) => result.status !== "passed")).toEqual([]);
    expect(report.results.map((result) => result.name)).toEqual(CLIENT_SCENARIOS.map((scenario) => scenario.name));
    expect(report.summary).toBe(`${CLIENT_SCENARIOS.length} passed, 0 failed`);
    expect(status).toBe(0);
  }, 180_000);

  it("fails a client that never answers pings in heartbeat.pong (the human report, JUnit, exit status 1)", async () => {
    const junit = join(mkdtempSync(join(tmpdir(), "leasehold-junit-")), "client.xml");
    onTestFinished(() => rmSync(dirname(junit), { recursive: true, force: true }));
    const { status, out } = await cli(["--driver-cmd", brokenDriver("no-pong"), "--only", "heartbeat", "--junit", junit]);
    expect(out).toMatch(/^FAIL heartbeat\.pong +§5 Heartbeats +\d+ ms\n +ping seq 1 got no pong within 3000 ms/m);
    expect(out).toMatch(/\n0 passed, 1 failed\n$/);
    expect(readFileSync(junit, "utf8")).toMatch(
      /<testsuite name="leasehold-conformance client" tests="1" failures="1" skipped="0"[\s\S]*<testcase classname="leasehold\.client\.heartbeat" name="heartbeat\.pong \(§5 Heartbeats\)"[\s\S]*<failure message="ping seq 1 got no pong within 3000 ms/,
    );
    expect(status).toBe(1);
  }, 60_000);

  it("fails a client that answers pings from a timer, late, in heartbeat.pong", async () => {
    const { status, out } = await cli(["--driver-cmd", brokenDriver("late-pong"), "--only", "heartbeat.pong", "--json"]);
    const [result] = (JSON.parse(out) as Report).results;
    expect(result).toMatchObject({ name: "heartbeat.pong", status: "failed" });
    expect(result?.detail).toMatch(/6 of 6 pongs came more than 250 ms after their ping/);
    expect(status).toBe(1);
  }, 60_000);

  it("fails a client that re-sends a request refused with close 4000", async () => {
    const { out } = await cli(["--driver-cmd", brokenDriver("resend-refused"), "--only", "refused-4000", "--json"]);
    const { results } = JSON.parse(out) as Report;
    expect(results.map((result) => [result.name, result.status])).toEqual([
      ["refused-4000.with-id", "failed"],
      ["refused-4000.without-id", "failed"],
    ]);
    for (const result of results) expect(result.detail).toMatch(/sent the request refused with close 4000 again/);
  }, 60_000);
});

/** Runs the client mode as the bin does, with what it prints on stdout captured. */
async function cli(argv: string[]): Promise<{ status: number; out: string }> {
  let out = "";
  const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  try {
    return { status: await runClientConformance(argv), out };
  } finally {
    write.mockRestore();
  }
}
