import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runScenarios, serverScenarios, SMALL_LIMITS } from "@leasehold/conformance";
import { createServer, type LeaseholdServer, type ServerOptions } from "@leasehold/server";
import { defer, repoRoot } from "../support/fixtures.js";
import { freePort } from "../support/server-process.js";
import { BreakingRelay } from "./breaking-relay.js";

describe("the conformance kit, server mode", () => {
  it("passes every scenario against our server (small-limits profile, restarted on its data)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "leasehold-conformance-"));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const options: ServerOptions = { host: "127.0.0.1", port, dataDir, sync: "process", limits: { minTtlMs: 100, ...SMALL_LIMITS } };
    let server: LeaseholdServer = await createServer(options);
    defer(() => server.close());
    const results = await runScenarios(serverScenarios, {
      url: `ws://127.0.0.1:${port}`,
      smallLimits: true,
      restart: async () => {
        await server.close();
        server = await createServer(options);
      },
    });
    expect(results.filter((r) => r.status !== "passed")).toEqual([]);
    expect(results.map((r) => r.name)).toEqual(serverScenarios.map((s) => s.name));
  }, 120_000);

  it("fails a server that drops lease.ended pushes, naming the scenario and what was missing", async () => {
    const server = await startPlainServer();
    const relay = new BreakingRelay(server.url, (message) => (message.type === "lease.ended" ? "drop" : message));
    const url = await relay.start();
    defer(() => relay.close());
    const results = await runScenarios(serverScenarios, { url, only: ["leases.keepalive-expiry", "locks.lease-ended-before-next-grant", "locks.try"] });
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ["leases.keepalive-expiry", "failed"],
      ["locks.try", "passed"],
      ["locks.lease-ended-before-next-grant", "failed"],
    ]);
    expect(results[0]!.detail).toMatch(/lease\.ended did not arrive/);
  }, 60_000);

  it("fails a server whose pings never acknowledge pongs, and one that grants a waiter before telling the holder", async () => {
    const server = await startPlainServer();
    const noAck = new BreakingRelay(server.url, (message) => (message.type === "ping" ? { ...message, ack: 0 } : message));
    const noAckUrl = await noAck.start();
    defer(() => noAck.close());
    const [heartbeats] = await runScenarios(serverScenarios, { url: noAckUrl, only: ["heartbeats.interval-and-ack"] });
    expect(heartbeats).toMatchObject({ status: "failed", detail: expect.stringMatching(/ack/) });
    // lock.lost held back 300 ms: the next holder's grant reaches its client first.
    const late = new BreakingRelay(server.url, (message) => (message.type === "lock.lost" ? { delayMs: 300 } : message));
    const lateUrl = await late.start();
    defer(() => late.close());
    const [lost] = await runScenarios(serverScenarios, { url: lateUrl, only: ["locks.lost-before-next-grant"] });
    expect(lost).toMatchObject({ status: "failed", detail: expect.stringMatching(/before the holder received lock\.lost/) });
  }, 60_000);
});

async function startPlainServer(): Promise<LeaseholdServer> {
  const server = await createServer({ host: "127.0.0.1", port: 0, limits: { minTtlMs: 100 } });
  defer(() => server.close());
  return server;
}

describe("the leasehold-conformance bin", () => {
  it("prints N passed, M failed, writes JUnit, and exits non-zero when a scenario fails", async () => {
    const server = await startPlainServer();
    const passing = await runBin(["server", "--url", server.url, "--only", "handshake.welcome,versions"]);
    expect(passing.code).toBe(0);
    expect(passing.stdout.trim().split("\n").at(-1)).toBe("3 passed, 0 failed");
    const relay = new BreakingRelay(server.url, (message) => (message.type === "welcome" ? { ...message, version: 2 } : message));
    const url = await relay.start();
    defer(() => relay.close());
    const junit = join(mkdtempSync(join(tmpdir(), "leasehold-junit-")), "results.xml");
    defer(() => rmSync(dirname(junit), { recursive: true, force: true }));
    const failing = await runBin(["server", "--url", url, "--only", "handshake.welcome", "--junit", junit]);
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/FAIL handshake\.welcome[\s\S]*welcome\.version should be 1, got 2[\s\S]*0 passed, 1 failed\n$/);
    expect(readFileSync(junit, "utf8")).toMatch(/<testsuite name="leasehold-conformance server" tests="1" failures="1"[\s\S]*<failure message="welcome.version should be 1, got 2"/);
    expect((await runBin(["server"])).code).toBe(2);
  }, 60_000);
});

async function runBin(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fileURLToPath(new URL("../../packages/conformance/src/bin.ts", import.meta.url)), ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  defer(() => child.kill("SIGKILL"));
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stdout };
}
