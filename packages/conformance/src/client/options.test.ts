import { describe, expect, it } from "vitest";
import { parseClientArgs, selectScenarios } from "./options.js";
import { CLIENT_SCENARIOS } from "./scenarios/index.js";

describe("client mode arguments", () => {
  it("reads --listen, --driver-cmd, --only, --skip, --json and --junit", () => {
    expect(parseClientArgs(["--listen", "127.0.0.1:7171", "--driver-cmd", "python3 driver.py", "--only", "push, heartbeat", "--skip", "push.lock-lost", "--json"])).toEqual({
      host: "127.0.0.1",
      port: 7171,
      driverCmd: "python3 driver.py",
      only: ["push", "heartbeat"],
      skip: ["push.lock-lost"],
      json: true,
    });
    expect(parseClientArgs(["--driver-cmd", "./d", "--listen", "[::1]:0"])).toMatchObject({ host: "::1", port: 0 });
    expect(parseClientArgs(["--driver-cmd", "./d", "--junit", "out/client.xml"])).toMatchObject({ junit: "out/client.xml" });
    expect(parseClientArgs(["--list"])).toEqual({ list: true });
  });

  it("says what is wrong with bad arguments", () => {
    expect(parseClientArgs([])).toEqual({ error: expect.stringMatching(/--driver-cmd is required/) });
    expect(parseClientArgs(["--driver-cmd", "x", "--listen", "7171"])).toEqual({ error: expect.stringMatching(/--listen needs HOST:PORT/) });
    expect(parseClientArgs(["--driver-cmd", "x", "--bogus"])).toEqual({ error: expect.stringMatching(/--bogus/) });
  });

  it("selects a scenario by its name or by its group", () => {
    const names = (only: string[], skip: string[]): string[] => selectScenarios(CLIENT_SCENARIOS, { only, skip }).map((scenario) => scenario.name);
    expect(names(["push"], ["push.lock-lost"])).toEqual(["push.granted-wait", "push.lease-ended", "push.unknown-reason"]);
    expect(names(["heartbeat.pong"], [])).toEqual(["heartbeat.pong"]);
    expect(names([], ["push", "refused-4000", "resume", "deadline"])).toEqual(["heartbeat.pong"]);
  });

  it("names a PROTOCOL.md section for every scenario, and no two scenarios alike", () => {
    for (const scenario of CLIENT_SCENARIOS) expect(scenario.section).toMatch(/^\d+[a-z]? [A-Z]/);
    expect(new Set(CLIENT_SCENARIOS.map((scenario) => scenario.name)).size).toBe(CLIENT_SCENARIOS.length);
  });
});
