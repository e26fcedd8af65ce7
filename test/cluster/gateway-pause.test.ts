import { describe, expect, it, vi } from "vitest";
import { ErrorCode } from "@leasehold/client";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { spawnBuiltScript } from "../support/built-script.js";
import { defer, startClient } from "../support/fixtures.js";
import { leaderOf, startGateways } from "./support/gateways.js";

const HOLDER_TTL = 1_500;
const RELAYED_TTL = 5_000;

describe("a leader gateway paused past its election TTL", () => {
  it("stops serving when woken: its commits fail, a follower has taken over, and the stale holder is fenced off", async () => {
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster);
    const leader = await leaderOf(gateways);
    const followers = gateways.filter((gateway) => gateway !== leader);
    // The holder knows only the leader's URL: once woken, that gateway must relay it to the new leader.
    const holder = spawnBuiltScript("./holder.ts", [leader.url, "paused", String(HOLDER_TTL)]);
    const acquired = await holder.next((line) => line.event === "acquired", 20_000);
    const waiter = await startClient(followers.map((gateway) => gateway.url));
    const waits = waiter.locks.acquire("paused", (await waiter.leases.grant(10_000)).id, { wait: true });
    await vi.waitFor(async () => expect((await waiter.locks.query("paused")).pending).toHaveLength(1));

    holder.process.kill("SIGSTOP");
    leader.child.process.kill("SIGSTOP");
    const next = await leaderOf(followers, 15_000);
    // The new leader restored the holder's lease with a fresh TTL; the holder never came back, so the lock passed on.
    const lock = await waits;
    expect(lock.token!).toBeGreaterThan(acquired.token as number);
    const linesBefore = leader.child.lines.length;

    leader.child.process.kill("SIGCONT");
    holder.process.kill("SIGCONT");
    // The old leader learns it lost (its check or its next commit), stops serving and follows.
    await vi.waitFor(() => expect(leader.role).toBe("follower"), { timeout: 10_000 });
    const after = leader.child.lines.slice(linesBefore);
    expect(after.some((line) => typeof line.msg === "string" && /stepped down|stopped serving/.test(line.msg))).toBe(true);
    expect(after.some((line) => line.role === "leader")).toBe(false);
    const lost = await holder.next((line) => line.event === "lost", 15_000);
    expect(lost.code).toBe(ErrorCode.LEASE_EXPIRED);
    // One holder only, and a write fenced with the stale token is refused.
    const snapshot = await waiter.locks.query("paused");
    expect(snapshot.held.map((entry) => entry.clientId)).toEqual([waiter.sessionId]);
    await expect(waiter.put("guarded", "stale", { fence: { lock: "paused", token: acquired.token as number } })).rejects.toMatchObject({ code: ErrorCode.FENCE_FAILED });
    await waiter.put("guarded", "current", { fence: { lock: "paused", token: lock.token! } });
    expect(next.role).toBe("leader");
  });
});

describe("followers relaying to a paused leader", () => {
  it("move their clients to the new leader as soon as etcd names it, before the clients' leases lapse", async () => {
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster);
    const leader = await leaderOf(gateways);
    const followers = gateways.filter((gateway) => gateway !== leader);
    // One client through each follower, each knowing only that follower: whichever of them wins the
    // election, the other keeps relaying its client to the paused leader unless it moves it. Without
    // that, the client hears nothing until its silence rule (3 heartbeats, TTL/3 each: 5.1 s) drops
    // the link, after its lease's own deadline (TTL - 5 %: 4.75 s), and loses the lock.
    const clients = await Promise.all(followers.map((follower) => startClient(follower.url)));
    const locks = await Promise.all(clients.map(async (client, index) => client.locks.acquire(`relayed-${index}`, (await client.leases.grant(RELAYED_TTL)).id)));
    expect(locks.map((lock) => lock.acquired)).toEqual([true, true]);

    leader.child.process.kill("SIGSTOP");
    defer(() => leader.child.process.kill("SIGCONT"));
    const pausedAt = performance.now();
    const next = await leaderOf(followers, 15_000);
    const stranded = clients[followers.findIndex((follower) => follower !== next)]!;
    await vi.waitFor(async () => expect((await stranded.locks.query("relayed-")).held).toHaveLength(2), { timeout: RELAYED_TTL });
    const movedAfterMs = performance.now() - pausedAt;
    for (const [index, lock] of locks.entries()) {
      expect(lock.signal.aborted, `the lock of the client relayed by gateway ${followers[index]!.index}`).toBe(false);
      expect(lock.held).toBe(true);
    }
    console.log(`leader paused to the stranded relayed client served by the new leader: ${movedAfterMs.toFixed(0)} ms (lease TTL ${RELAYED_TTL} ms)`);
  });
});
