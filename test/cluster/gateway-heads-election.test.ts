import { describe, expect, it } from "vitest";
import { EtcdClient } from "../../packages/server/src/cluster/etcd-client.js";
import { electionPrefixOf } from "../../packages/server/src/cluster/layout.js";
import { Leadership } from "../../packages/server/src/cluster/leadership.js";
import { BUILT_CLI } from "../support/built-cli.js";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { defer, spawnNode, startClient } from "../support/fixtures.js";
import { rawUpgrade } from "../support/raw.js";
import { freePort } from "../support/server-process.js";

describe("a gateway that heads the election before it has taken over", () => {
  // After the leader's key lapses, the next candidate's key heads the election before its campaign
  // sees it go (up to one election TTL): etcd names it the leader while it still relays. Relaying to
  // itself, one client's upgrade came back round as thousands of connections (the failover bench's
  // "no grant within 30 s"); it must refuse at once, as when nobody leads.
  it("refuses clients with 503 'no gateway leads now' rather than relaying to itself, then serves once it takes over", async () => {
    const cluster = await startEtcdCluster();
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    // The test heads the election in the gateway's name, so the gateway's own campaign waits behind it.
    const client = new EtcdClient(cluster.endpoints);
    const head = new Leadership({ client, prefix: electionPrefixOf("/leasehold/"), ttlSeconds: 1, value: new TextEncoder().encode(url) });
    defer(async () => {
      await head.resign();
      client.close();
    });
    await head.campaign();
    const gateway = spawnNode([BUILT_CLI, "serve", "--host", "127.0.0.1", "--port", String(port), "--min-ttl", "100", "--etcd", cluster.endpoints.join(","), "--election-ttl", "1"]);
    await gateway.next((line) => typeof line.url === "string", 20_000);

    const refused = await rawUpgrade(url);
    expect(refused.status).toBe(503);
    expect(refused.body).toContain("no gateway leads now");

    await head.resign();
    await gateway.next((line) => line.role === "leader", 10_000);
    const session = await startClient(url);
    expect(session.sessionId).toBeDefined();
  });
});
