import { describe, expect, it, vi } from "vitest";
import { EtcdClient } from "../../packages/server/src/cluster/etcd-client.js";
import { Leadership } from "../../packages/server/src/cluster/leadership.js";
import { raftFollower, startEtcdCluster } from "../support/etcd-cluster.js";
import { defer, spawnScript } from "../support/fixtures.js";

describe("Leadership when one etcd member hangs", () => {
  it("keeps leading while the member its keepalives went to is paused for 2.5 TTLs", async () => {
    const own = await startEtcdCluster();
    // A raft follower: pausing etcd's own leader stops every lease renewal for an election timeout
    // (500 ms here, half the TTL), which etcd's minimum TTL of 1.5 election timeouts allows for.
    const client = new EtcdClient((await raftFollower(own)).endpointsFromIt);
    defer(() => client.close());
    const losses: string[] = [];
    const a = new Leadership({ client, prefix: "/election/", ttlSeconds: 1, onLost: (reason) => losses.push(reason) });
    defer(() => a.resign());
    await a.campaign();
    const paused = own.members.find((member) => member.clientUrl === client.endpoint)!;
    paused.pause();
    defer(() => paused.resume());
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(losses).toEqual([]);
    a.check();
    expect(client.endpoint).not.toBe(paused.clientUrl);
  });
});

describe("Leadership when etcd loses quorum", () => {
  it("the leader stops within its TTL, nobody leads while quorum is lost, and a new campaign wins once it is back", async () => {
    const own = await startEtcdCluster();
    const client = new EtcdClient(own.endpoints);
    defer(() => client.close());
    const a = new Leadership({ client, prefix: "/election/", ttlSeconds: 1 });
    defer(() => a.resign());
    const first = await a.campaign();
    const [m0, m1] = own.members;
    const cutAt = performance.now();
    await Promise.all([m0!.kill(), m1!.kill()]);
    await vi.waitFor(() => expect(() => a.check()).toThrow(/within its TTL/), { timeout: 3_000 });
    const stoppedAfterMs = performance.now() - cutAt;
    // At most TTL (1 s) after the last keepalive etcd acknowledged; an etcd leader left alone still
    // renews leases until it notices the lost quorum (one election timeout, 500 ms here).
    expect(stoppedAfterMs).toBeLessThan(2_000);
    const impatient = new EtcdClient(own.endpoints, { requestTimeoutMs: 500 });
    defer(() => impatient.close());
    const during = new Leadership({ client: impatient, prefix: "/election/", ttlSeconds: 1 });
    await expect(during.campaign()).rejects.toThrow(/etcd request .* failed/);
    await Promise.all([m0!.restart(), m1!.restart()]);
    const b = new Leadership({ client, prefix: "/election/", ttlSeconds: 1 });
    defer(() => b.resign());
    const second = await b.campaign();
    expect(second.epoch).toBeGreaterThan(first.epoch);
    b.check();
    console.log(`leader stopped ${stoppedAfterMs.toFixed(0)} ms after quorum was lost`);
  });
});

describe("a leader woken from SIGSTOP", () => {
  it("never passes check() again once another candidate could have won", async () => {
    const cluster = await startEtcdCluster();
    const prefix = "/election/";
    const child = spawnScript("../cluster/support/leader-process.ts", [cluster.endpoints.join(","), prefix]);
    await child.next((line) => typeof line.leader === "number");
    await child.next((line) => line.check === "ok");
    const client = new EtcdClient(cluster.endpoints);
    defer(() => client.close());
    const b = new Leadership({ client, prefix, ttlSeconds: 1 });
    defer(() => b.resign());
    child.process.kill("SIGSTOP");
    const term = await b.campaign();
    const wonAt = performance.now();
    // Paused longer than its TTL; woken while b leads.
    child.process.kill("SIGCONT");
    const lost = await child.next((line) => line.check === "lost");
    const okAfterWin = child.lines.filter((line) => line.check === "ok" && (line.receivedAt as number) > wonAt);
    expect(okAfterWin).toEqual([]);
    expect(lost.receivedAt as number).toBeGreaterThan(wonAt);
    b.check();
    expect(term.epoch).toBeGreaterThan(child.lines.find((line) => typeof line.leader === "number")!.leader as number);
  });
});

describe("Leadership while the leader's snapshots compact etcd's history", () => {
  it("the next candidate leads once the leader resigns, though the watches of its campaign are cancelled by compactions", async () => {
    const own = await startEtcdCluster();
    const client = new EtcdClient(own.endpoints);
    const other = new EtcdClient(own.endpoints);
    defer(() => {
      client.close();
      other.close();
    });
    const a = new Leadership({ client, prefix: "/election/", ttlSeconds: 1 });
    const b = new Leadership({ client: other, prefix: "/election/", ttlSeconds: 1 });
    defer(() => Promise.all([a.resign(), b.resign()]));
    await a.campaign();
    // A write and a compaction to it, again and again, as a busy leader's snapshots do: each watch
    // b's campaign opens from a revision read a moment before may start at a compacted one.
    let compacting = true;
    const compactions = (async () => {
      for (let n = 0; compacting; n++) await client.compact(await client.put("/churn", new TextEncoder().encode(String(n))));
    })();
    defer(async () => {
      compacting = false;
      await compactions;
    });
    const bLeads = b.campaign();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(b.state.state).toBe("campaigning");
    const resignedAt = performance.now();
    await a.resign();
    await vi.waitFor(() => expect(b.state.state).toBe("leader"), { timeout: 5_000 });
    await bLeads;
    console.log(`the next candidate led ${(performance.now() - resignedAt).toFixed(0)} ms after the leader resigned, under compactions`);
  });
});
