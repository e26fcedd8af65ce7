import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { startClient } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { TENANT_C, admitted, entry, scratchDir, sighup, writeTokens } from "../support/reload.js";
import { TOKENS } from "../support/security.js";
import { leaderOf, startGateways } from "./support/gateways.js";

// Guarantee 4 of issue 12, reloading secrets (test/security/reload.test.ts against one server process): SIGHUP
// to every gateway, as `systemctl reload` of each machine would send it. The leader rereads the token file;
// a follower, which checks no credentials, rereads only its certificate (none here) and goes on relaying.
describe("SIGHUP on a cluster of gateways", () => {
  it("rereads the token file: a removed token's session, connected through a follower, is closed with 4003; a new token works; every gateway lives on", async () => {
    const file = join(scratchDir(), "tokens.json");
    writeTokens(file, [entry("tenant-a"), entry("tenant-b")]);
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster, { electionTtlSeconds: 2, args: ["--auth-file", file] });
    const leader = await leaderOf(gateways);
    const follower = gateways.find((gateway) => gateway !== leader)!;
    const revoked = await Raw.open(follower.url);
    await revoked.hello(TOKENS.tenantA);
    const kept = await startClient(follower.url, { auth: TOKENS.tenantB });
    expect(await kept.counters.increment("tenant-b/n")).toBe(1);

    writeTokens(file, [entry("tenant-b"), TENANT_C]);
    const reports = await Promise.all(gateways.map((gateway) => sighup(gateway.child, 1)));
    expect(reports[gateways.indexOf(leader)]).toMatchObject({ level: 30, closed: 1, auth: "on: 2 static tokens" });
    for (const report of reports) expect(report.level).toBe(30);

    const closed = await revoked.closed();
    expect(closed.code).toBe(CloseCode.UNAUTHENTICATED);
    expect(revoked.errorsBeforeClose()[0]).toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
    expect(await admitted(follower.url, TOKENS.tenantA)).toBe(false);
    expect(await admitted(follower.url, TENANT_C.token)).toBe(true);
    expect(await kept.counters.increment("tenant-b/n")).toBe(2);
    for (const gateway of gateways) expect(gateway.child.process.exitCode, `gateway ${gateway.index}`).toBeNull();
    expect(await leaderOf(gateways)).toBe(leader);
  });
});
