import { afterAll, beforeAll } from "vitest";
import type { ServerOptions } from "@leasehold/server";
import { leaderOf, startGateways, type GatewayOptions, type GatewayProcess } from "../cluster/support/gateways.js";
import { startEtcdCluster, type EtcdCluster } from "./etcd-cluster.js";
import { startServer } from "./fixtures.js";

/**
 * What an end-to-end scenario runs against (test/scenarios/*): `start()` gives each test a server URL.
 * The same scenarios run against one server (the e2e tier) and against a cluster (the cluster tier,
 * test/cluster/e2e-*.test.ts), so that guarantee 4 of issue 12 is checked by the very tests that check
 * a single server. Scenarios must therefore read state over the wire (`inspectOver`, not `inspectIn`)
 * and use names no other test of their file uses (a cluster is shared by a file's tests).
 */
export interface Target {
  readonly name: string;
  /**
   * What a test's URL reaches: the server itself, or a cluster's follower, which relays WebSockets to the
   * leader and answers any other HTTP request 503 (the pages, probes and metrics are the leader's).
   */
  readonly via: "server" | "follower";
  start(): Promise<{ url: string }>;
}

/** A target whose processes' logs a test can read (to check what they must never hold). */
export interface LoggingTarget extends Target {
  /** Everything logged so far, as text: on a cluster, every gateway's lines, the leader's and the followers'. */
  logs(): string;
}

/** A fresh server in this process per test, closed after it. */
export const singleServer: Target = singleServerWith({});

/**
 * The same with server options, for scenarios that need a timing other than the default: the cluster
 * tier passes the same settings as `serve` flags (`sharedCluster({ args })`).
 */
export function singleServerWith(options: ServerOptions): Target {
  return { name: "one server", via: "server", start: () => startServer(options) };
}

/**
 * 3 etcd members and 3 gateways (the built CLI) for all the tests of the file that calls this at its top
 * level, started in `beforeAll` (about 3 s, and up to 20 s under load) and stopped in `afterAll`. Each
 * test gets a follower's URL, so that every frame crosses the relay to the leader. Election TTL 2 s,
 * the CLI's default: these tests are about the rules through a cluster, not about failover speed.
 * `args` are more `serve` flags for every gateway (a scenario's timings, authentication...).
 */
export function sharedCluster({ args = [] }: Pick<GatewayOptions, "args"> = {}): LoggingTarget {
  let cluster: EtcdCluster | undefined;
  let gateways: GatewayProcess[] = [];
  beforeAll(async () => {
    cluster = await startEtcdCluster({ manualStop: true });
    gateways = await startGateways(cluster, { manualStop: true, electionTtlSeconds: 2, args });
  });
  afterAll(async () => {
    for (const gateway of gateways) gateway.kill();
    await cluster?.stop();
  });
  return {
    name: "a cluster, through a follower",
    via: "follower",
    async start() {
      const leader = await leaderOf(gateways);
      return { url: gateways.find((gateway) => gateway !== leader)!.url };
    },
    logs: () => gateways.flatMap((gateway) => gateway.child.lines.map((line) => JSON.stringify(line))).join("\n"),
  };
}
