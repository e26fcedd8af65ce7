import { describe, expect, it, vi } from "vitest";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { startClient } from "../support/fixtures.js";
import { leaderOf, startGateways } from "./support/gateways.js";

const TTL = 3_000;

describe("a cluster of 3 gateways when etcd members die", () => {
  it("goes on with one member lost; with quorum lost grants nothing and clients are told by their deadlines; comes back with nothing lost", async () => {
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster);
    await leaderOf(gateways);
    const urls = gateways.map((gateway) => gateway.url);
    const holder = await startClient(urls);
    const other = await startClient([...urls].reverse());
    const held = await holder.locks.acquire("quorum", (await holder.leases.grant(TTL)).id);
    const put = await holder.put("kept", "before");

    const [m0, m1] = cluster.members;
    await m0!.kill();
    // One member lost: grants and writes go on.
    const during = await other.locks.acquire("one-lost", (await other.leases.grant(10_000)).id);
    expect(during.acquired).toBe(true);
    expect(await other.counters.increment("acknowledged", 3)).toBe(3);

    await m1!.kill();
    const cutAt = performance.now();
    let granted = false;
    const waiting = other.locks.acquire("no-quorum", during.leaseId, { wait: true }).then((lock) => ((granted = lock.acquired), lock));
    // Nobody can be granted anything; the holder's own deadline tells it its lock may be gone.
    await vi.waitFor(() => expect(held.signal.aborted).toBe(true), { timeout: TTL + 3_000 });
    const toldAfterMs = performance.now() - cutAt;
    expect(granted).toBe(false);
    await vi.waitFor(() => expect(gateways.map((gateway) => gateway.role)).toEqual(["follower", "follower", "follower"]), { timeout: 5_000 });
    expect(granted).toBe(false);

    await Promise.all([m0!.restart(), m1!.restart()]);
    const backAt = performance.now();
    await leaderOf(gateways, 15_000);
    const lock = await waiting;
    expect(lock.acquired).toBe(true);
    expect(lock.token!).toBeGreaterThan(during.token!);
    expect(await other.get("kept")).toMatchObject({ value: "before", revision: put.revision });
    expect(await other.counters.get("acknowledged")).toBe(3);
    console.log(`quorum lost: holder told after ${toldAfterMs.toFixed(0)} ms; quorum back to first grant: ${(performance.now() - backAt).toFixed(0)} ms`);
  });
});
