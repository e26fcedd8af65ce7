import { describe, expect, it, vi } from "vitest";
import { connect } from "@leasehold/client";
import { runScenarios, serverScenarios, SMALL_LIMITS_FLAGS, type ScenarioResult } from "@leasehold/conformance";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { leaderOf, startGateways } from "./support/gateways.js";

/**
 * Guarantee 5 of issue 12 ("every lock scenario that passes against one server passes against the
 * cluster through any gateway"), by the conformance kit: the same scenarios test/conformance runs
 * against one server, run here against 3 gateways on 3 etcd members, connected through a follower so
 * that every frame crosses the relay. The kit's restart scenarios kill -9 the leader gateway: the
 * service comes back on the same URL once a follower has won the election, as after a restart.
 */
describe("the conformance kit against a cluster", () => {
  it("passes every scenario through a follower gateway, the leader killed -9 where the kit restarts the server", async () => {
    const cluster = await startEtcdCluster();
    // Four gateways: one may be killed by the restart scenarios and three still run.
    const gateways = await startGateways(cluster, { count: 4, args: SMALL_LIMITS_FLAGS, electionTtlSeconds: 2 });
    const leader = await leaderOf(gateways);
    const entry = gateways.find((gateway) => gateway !== leader)!;
    const restarts: number[] = [];
    const results = await runScenarios(serverScenarios, {
      url: entry.url,
      smallLimits: true,
      restart: async () => {
        const started = performance.now();
        const current = await leaderOf(gateways);
        // The entry gateway is never the one killed, so that the kit's URL stays up.
        if (current === entry) throw new Error("the entry gateway leads: the kit would lose its URL; restart another way");
        current.kill();
        await leaderOf(gateways.filter((gateway) => gateway.role !== "dead"), 15_000);
        // Back means served through the entry URL: the follower may still dial the dead leader once
        // (its address is re-read from etcd every 500 ms) and answer 503 meanwhile.
        await vi.waitFor(async () => (await connect(entry.url)).close(), { timeout: 10_000, interval: 100 });
        restarts.push(performance.now() - started);
      },
    });
    expect(failures(results)).toEqual([]);
    expect(results.map((result) => result.name)).toEqual(serverScenarios.map((scenario) => scenario.name));
    console.log(`conformance through a follower: ${results.filter((r) => r.status === "passed").length} passed; leader kill -9 to a new leader: ${restarts.map((ms) => ms.toFixed(0)).join(", ")} ms`);
  });

  it("passes every lock scenario through each gateway, the leader included", async () => {
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster, { args: SMALL_LIMITS_FLAGS, electionTtlSeconds: 2 });
    await leaderOf(gateways);
    const only = serverScenarios.filter((scenario) => scenario.name.startsWith("locks.")).map((scenario) => scenario.name);
    expect(only.length).toBeGreaterThan(5);
    for (const gateway of gateways) {
      const results = await runScenarios(serverScenarios, { url: gateway.url, smallLimits: true, only });
      expect(failures(results), `through gateway ${gateway.index} (${gateway.role})`).toEqual([]);
      expect(results.filter((result) => result.status === "passed")).toHaveLength(only.length);
    }
  });
});

function failures(results: readonly ScenarioResult[]): { name: string; status: string; detail?: string }[] {
  return results.filter((result) => result.status !== "passed").map(({ name, status, detail }) => ({ name, status, detail }));
}

