import { describe, expect, it, vi } from "vitest";
import { nodeCommand, runCli, startCli } from "../support/cli-process.js";
import { startClient, startServer } from "../support/fixtures.js";

describe("leasehold elect", () => {
  it("runs the command while this process leads, with the election and token in its environment; --observe prints each leader", async () => {
    const server = await startServer();
    const other = await startClient(server.url);
    const observer = startCli(["elect", "primary", "--observe", "--json", "--url", server.url]);
    await observer.printed(`"leader":null`);
    const leader = startCli([
      "elect", "primary", "--value", '{"host":"db-1"}', "--url", server.url, "--",
      ...nodeCommand(`say(process.env.LEASEHOLD_ELECTION + " " + process.env.LEASEHOLD_FENCING_TOKEN); process.on("SIGTERM", () => process.exit(5)); setInterval(() => {}, 1000);`),
    ]);
    await leader.printed("primary ");
    const token = Number(leader.stdout().trim().split(" ")[1]);
    expect(await other.elections.leader("primary")).toEqual({ value: { host: "db-1" }, token });
    await observer.printed(`{"name":"primary","leader":{"value":{"host":"db-1"},"token":${token}}}`);

    // Another candidate with --try finds a leader: not elected, exit 1 (or -E).
    const [refused, refusedE] = await Promise.all([
      runCli(["elect", "primary", "--try", "--url", server.url, "--", "true"]),
      runCli(["elect", "primary", "--try", "-E", "9", "--url", server.url, "--", "true"]),
    ]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("not elected");
    expect(refusedE.status).toBe(9);

    // The command's own status, passed through when leadership was not lost; leadership ends with it.
    leader.process.kill("SIGTERM");
    expect(await leader.exited).toBe(5);
    await vi.waitFor(() => expect(observer.stdout().trim().split("\n").at(-1)).toBe('{"name":"primary","leader":null}'), { timeout: 10_000 });
    expect(await other.elections.leader("primary")).toBeNull();
    observer.process.kill("SIGINT");
    expect(await observer.exited).toBe(130);
  });

  it("exits 75 when leadership is lost while the command runs (its lease revoked by an admin)", async () => {
    const server = await startServer();
    const admin = await startClient(server.url);
    const leader = startCli(["elect", "primary", "--url", server.url, "--", ...nodeCommand(`say("leading " + process.env.LEASEHOLD_LEASE); process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000);`)]);
    await leader.printed("leading ");
    const lease = Number(/leading (\d+)/.exec(leader.stdout())?.[1]);
    expect(await admin.admin.revokeLease(lease)).toBe(true);
    expect(await leader.exited).toBe(75);
  });

  it("exits 64 when --observe is given a command or leading is given none", async () => {
    const server = await startServer();
    const [observeWithCommand, leadWithout, badValue] = await Promise.all([
      runCli(["elect", "e", "--observe", "--url", server.url, "--", "true"]),
      runCli(["elect", "e", "--url", server.url]),
      runCli(["elect", "e", "--value", "not json", "--url", server.url, "--", "true"]),
    ]);
    expect([observeWithCommand.status, leadWithout.status, badValue.status]).toEqual([64, 64, 64]);
  });
});
