import { describe, expect, it } from "vitest";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { Raw } from "../support/raw.js";
import { leaderOf, startGateways } from "./support/gateways.js";

/** A hello on a new connection through `url` from `localAddress` (any of 127/8 reaches loopback): "welcome", or the error code it got. */
async function hello(url: string, localAddress: string): Promise<{ answer: string; raw: Raw }> {
  const raw = await Raw.open(url, { localAddress });
  raw.send({ op: "hello", version: 1 });
  const answer = await raw.next((message) => message.type === "welcome" || message.type === "error");
  return { answer: answer.type === "error" ? answer.code : "welcome", raw };
}

// Guarantee 4 of issue 12, per-address limits (test/security/headers.test.ts and test/hostile/connection-rate.test.ts
// against one server): the leader counts a relayed client under the address the follower proves with the cluster secret.
describe("per-address connection limits through a follower", () => {
  it("a client's connections through a follower count under its own address: past the limit LIMIT_EXCEEDED and 4005, another address goes on", async () => {
    const cluster = await startEtcdCluster();
    const gateways = await startGateways(cluster, { electionTtlSeconds: 2, args: ["--max-connections-per-address", "2"] });
    const leader = await leaderOf(gateways);
    const follower = gateways.find((gateway) => gateway !== leader)!;
    const first = await hello(follower.url, "127.0.0.2");
    expect(first.answer).toBe("welcome");
    expect((await hello(follower.url, "127.0.0.2")).answer).toBe("welcome");
    const third = await hello(follower.url, "127.0.0.2");
    expect(third.answer).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect((await third.raw.closed()).code).toBe(CloseCode.TOO_MANY_SESSIONS);
    // Another address through the same follower is counted apart (the follower's own address is not the clients').
    expect((await hello(follower.url, "127.0.0.3")).answer).toBe("welcome");
    // A closed connection frees its place.
    first.raw.socket.close();
    await first.raw.closed();
    await expect.poll(async () => (await hello(follower.url, "127.0.0.2")).answer).toBe("welcome");
  });
});
