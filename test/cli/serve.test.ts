import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connect } from "@leasehold/client";
import { dataDir, startClient, startServer } from "../support/fixtures.js";
import { scrape } from "../support/prometheus.js";
import { STATIC_TOKENS, TOKENS, makeCertificates } from "../support/security.js";
import { runServerToExit, startServerProcess } from "../support/server-process.js";
import { startCli } from "../support/cli-process.js";

// `leasehold serve` as operators run it: its flags, its startup line, its refusals and exit codes.
// (These ran in the e2e tier, where each CLI start cost 2 to 11 s of its time on a loaded machine.)

describe("leasehold serve: flags and the startup line", () => {
  it("turns on TLS, authentication and an origin list by flags, and says so in its startup line", async () => {
    const pki = makeCertificates();
    const authFile = join(pki.dir, "tokens.json");
    writeFileSync(authFile, JSON.stringify({ tokens: STATIC_TOKENS }));
    const { child, url } = await startServerProcess([
      "--memory",
      "--port",
      "0",
      "--tls-cert",
      join(pki.dir, "server.crt"),
      "--tls-key",
      join(pki.dir, "server.key"),
      "--auth-file",
      authFile,
      "--allow-origin",
      "https://app.example",
    ]);
    expect(url).toMatch(/^wss:/);
    const line = child.lines.find((entry) => entry.url === url)!;
    expect(line.msg).toContain("auth on: 4 static tokens");
    expect(line.msg).toContain("https://app.example");
    expect(JSON.stringify(child.lines)).not.toContain(TOKENS.admin);
    const admin = await startClient(url, { ca: pki.ca, auth: TOKENS.admin });
    expect((await admin.admin.state()).sessions).toHaveLength(1);
    await expect(connect(url, { ca: pki.ca, autoReconnect: false })).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
  });

  // One process for both (one CLI start fewer): without flags, auth is off and the startup line says so.
  it("says that auth is off when it is, writes JSON lines when stdout is not a terminal, and opens the metrics listener of --metrics-port", async () => {
    const { child, url } = await startServerProcess(["--memory", "--port", "0", "--metrics-port", "0"]);
    const listening = child.lines.find((entry) => entry.url === url)!;
    expect(listening.msg).toContain("auth off: any client may connect");
    expect(listening.auth).toBe("off");
    expect(listening.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await scrape(listening.metricsUrl as string);
    expect(metrics.value("leasehold_sessions", { state: "connected" })).toBe(0);
  });

  it("the CLI writes readable lines, not JSON, with --log-format pretty (what `auto` picks on a terminal)", async () => {
    const cli = startCli(["serve", "--memory", "--host", "127.0.0.1", "--port", "0", "--log-format", "pretty"]);
    await cli.printed("leasehold listening on ws://127.0.0.1:");
    const line = cli.stdout().split("\n").find((text) => text.includes("leasehold listening on"))!;
    // "[12:03:04.567] INFO: leasehold listening on ...": a time, a level name, the message; no JSON.
    expect(line).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: leasehold listening on ws:\/\/127\.0\.0\.1:\d+/);
    expect(cli.stdout()).not.toContain('"level":');
  });
});

describe("leasehold serve: data directories it refuses, with a clear error and exit code 1", () => {
  it("refuses a damaged database, and leaves it as it was", async () => {
    const dir = dataDir();
    const damaged = "this is not a database, but somebody's data ".repeat(200);
    writeFileSync(join(dir, "leasehold.db"), damaged);
    const result = await runServerToExit(["--port", "0", "--data", dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/not a readable leasehold database/);
    expect(result.stdout).not.toMatch(/listening/);
    expect(readFileSync(join(dir, "leasehold.db"), "utf8")).toBe(damaged);
  });

  it("refuses LEASEHOLD_MEMORY=0 rather than silently running without durability", async () => {
    const result = await runServerToExit(["--port", "0", "--data", dataDir()], 20_000, { LEASEHOLD_MEMORY: "0" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/LEASEHOLD_MEMORY=0 is not understood/);
  });

  it("refuses a data directory that another server is using", async () => {
    const dir = dataDir();
    // The first server in this process (one child process fewer to start): to the second, it is another process all the same.
    await startServer({ dataDir: dir });
    const result = await runServerToExit(["--port", "0", "--data", dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/locked by another process/);
  });

  it("refuses a data directory it cannot create", async () => {
    const dir = dataDir();
    const blocker = join(dir, "file");
    writeFileSync(blocker, "");
    const result = await runServerToExit(["--port", "0", "--data", join(blocker, "data")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot create the data directory/);
  });
});
