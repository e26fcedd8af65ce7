import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connect } from "@leasehold/client";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { startClient } from "../support/fixtures.js";
import { makeCertificates } from "../support/security.js";
import { leaderOf, startGateways } from "./support/gateways.js";

// Guarantee 4 of issue 12, TLS (test/security/tls.test.ts against one server): every gateway serves wss:// on
// its client-facing listener, a follower's as the leader's, and a follower dials the leader over wss:// too.
// The rate-before-handshake test stays single-node: a follower does not count connections per address.
describe("TLS on a cluster of gateways", () => {
  it("a client given the CA reaches the leader and each follower over wss://; plain ws:// or an untrusted certificate gets nowhere", async () => {
    const pki = makeCertificates();
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster, {
      electionTtlSeconds: 2,
      args: ["--tls-cert", join(pki.dir, "server.crt"), "--tls-key", join(pki.dir, "server.key")],
      // The followers dial the leader's wss:// URL, so they must trust its certificate, as any TLS client does.
      env: { NODE_EXTRA_CA_CERTS: join(pki.dir, "ca.crt") },
    });
    const leader = await leaderOf(gateways);
    for (const gateway of [leader, ...gateways.filter((each) => each !== leader)]) {
      expect(gateway.url).toMatch(/^wss:\/\//);
      const client = await startClient(gateway.url, { ca: pki.ca });
      const lease = await client.leases.grant(5_000);
      const name = `tls/${gateway.index}`;
      const lock = await client.locks.acquire(`lock:${name}`, lease.id);
      expect(lock.acquired).toBe(true);
      await client.put(name, `over TLS through gateway ${gateway.index}`);
      expect((await client.get(name))?.value).toBe(`over TLS through gateway ${gateway.index}`);
      // Without the CA the certificate is not trusted; plain ws:// to a TLS port gets nowhere.
      await expect(connect(gateway.url, { autoReconnect: false })).rejects.toMatchObject({ code: "NOT_CONNECTED" });
      await expect(connect(gateway.url.replace("wss:", "ws:"), { autoReconnect: false })).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    }
  });
});
