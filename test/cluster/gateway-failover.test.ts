import { describe, expect, it, vi } from "vitest";
import type { Lock } from "@leasehold/client";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { startClient } from "../support/fixtures.js";
import { leaderOf, startGateways } from "./support/gateways.js";

const TTL = 8_000;

describe("a cluster of 3 gateways on 3 etcd members", () => {
  it("kill -9 of the leader gateway: a follower leads, clients resume within their TTL, holders keep locks and tokens, the queue keeps its order, acknowledged writes are kept", async () => {
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster);
    const leader = await leaderOf(gateways);
    const followers = gateways.filter((gateway) => gateway !== leader);
    // Every client knows every gateway; most start on a follower, so the relay carries them.
    const urls = (first: number) => [...followers, leader].map((gateway) => gateway.url).slice(first).concat([...followers, leader].map((gateway) => gateway.url).slice(0, first));
    const holder = await startClient(urls(0));
    const second = await startClient(urls(1));
    const third = await startClient(urls(2));
    const held = await holder.locks.acquire("failover", (await holder.leases.grant(TTL)).id);
    expect(held.acquired).toBe(true);
    const secondWaits = second.locks.acquire("failover", (await second.leases.grant(TTL)).id, { wait: true });
    await vi.waitFor(async () => expect((await holder.locks.query("failover")).pending).toHaveLength(1));
    const thirdWaits = third.locks.acquire("failover", (await third.leases.grant(TTL)).id, { wait: true });
    await vi.waitFor(async () => expect((await holder.locks.query("failover")).pending).toHaveLength(2));
    const put = await holder.put("config/x", "before");
    const counted = await second.counters.increment("visits", 5);

    const killedAt = performance.now();
    leader.kill();
    const next = await leaderOf(followers, 15_000);
    // Every client comes back to the new leader (through any gateway) and still holds what it held.
    await vi.waitFor(async () => expect((await holder.locks.query("failover")).held.map((entry) => entry.clientId)).toEqual([holder.sessionId]), { timeout: TTL });
    const resumedAfterMs = performance.now() - killedAt;
    expect(resumedAfterMs).toBeLessThan(TTL);
    expect(held.held).toBe(true);
    expect(held.signal.aborted).toBe(false);
    const queue = await third.locks.query("failover");
    expect(queue.pending.map((entry) => entry.clientId)).toEqual([second.sessionId, third.sessionId]);
    expect(await third.get("config/x")).toMatchObject({ value: "before", revision: put.revision });
    expect(await holder.counters.get("visits")).toBe(counted);

    // FIFO after the failover, with tokens larger than every token before.
    await held.release();
    const secondLock: Lock = await secondWaits;
    expect(secondLock.token!).toBeGreaterThan(held.token!);
    expect(secondLock.token!).toBeGreaterThan(put.revision);
    await secondLock.release();
    const thirdLock = await thirdWaits;
    expect(thirdLock.token!).toBeGreaterThan(secondLock.token!);
    expect(next.role).toBe("leader");
    console.log(`kill -9 of the leader gateway to every client resumed: ${resumedAfterMs.toFixed(0)} ms`);
  });
});
