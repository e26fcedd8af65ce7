import { writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { onTestFailed, vi } from "vitest";
import type { EtcdCluster } from "../../support/etcd-cluster.js";
import { BUILT_CLI } from "../../support/built-cli.js";
import { spawnNode, type ChildScript } from "../../support/fixtures.js";
import { freePort } from "../../support/server-process.js";

/**
 * `count` gateways (`leasehold serve --etcd ...`, the CLI as built, each a child process) over `cluster`,
 * on ports picked here, sharing one cluster secret. Each is killed after the test (spawnNode).
 * Short timings: election TTL 1 s unless told (etcd's minimum at the fixture's 500 ms election timeout).
 */
export async function startGateways(cluster: EtcdCluster, { count = 3, args = [], env = {}, endpoints = cluster.endpoints, manualStop = false, electionTtlSeconds = 1 }: GatewayOptions = {}): Promise<GatewayProcess[]> {
  const scheme = args.includes("--tls-cert") ? "wss" : "ws";
  const secretFile = join(mkdtempSync(join(tmpdir(), "leasehold-secret-")), "cluster-secret");
  writeFileSync(secretFile, randomBytes(24).toString("hex"));
  const gateways = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const port = await freePort();
      const child = spawnNode([
        BUILT_CLI, "serve", "--host", "127.0.0.1", "--port", String(port), "--min-ttl", "100",
        "--etcd", endpoints.join(","), "--cluster-secret-file", secretFile, "--election-ttl", String(electionTtlSeconds), ...args,
      ], { manualStop, env });
      return new GatewayProcess(index, child, `${scheme}://127.0.0.1:${port}`, endpoints);
    }),
  );
  // A failed run shows what each gateway said (roles, step-downs, etcd errors): a flake under load is otherwise blind.
  if (!manualStop) onTestFailed(() => {
    for (const gateway of gateways) console.log(`gateway ${gateway.index} (${gateway.url}):\n${gateway.child.lines.filter((line) => (line.level as number) >= 30).map((line) => `  ${((line.receivedAt as number) / 1000).toFixed(2)} s ${String(line.msg)}${line.err ? ` (${JSON.stringify((line.err as { message?: string }).message)})` : ""}`).join("\n")}`);
  });
  try {
    // 60 s: at a load of 25 to 33 (five engineers' suites and a CI run on 2 cores) a gateway took over 20 s to print its URL.
    await Promise.all(gateways.map((gateway) => gateway.child.next((line) => typeof line.url === "string", 60_000)));
  } catch (error) {
    // Shared gateways (manualStop) are killed by the caller only once it has them: killed here, they would
    // outlive a file whose beforeAll failed (three leaked gateways campaigning beside the next files, found under load).
    for (const gateway of gateways) gateway.kill();
    throw error;
  }
  return gateways;
}

export interface GatewayOptions {
  /** How many; default 3. */
  count?: number;
  /** More flags of `leasehold serve`. */
  args?: readonly string[];
  /** More environment variables (NODE_EXTRA_CA_CERTS, so that a follower trusts the leader's test certificate). */
  env?: NodeJS.ProcessEnv;
  /** etcd's client URLs in the order the gateways are given them (they send to the first until it fails); default the cluster's. */
  endpoints?: readonly string[];
  /**
   * Default 1 s, etcd's minimum at the fixture's timings, for the failover tests. Tests of the rules
   * through a cluster pass 2 (the default of `--election-ttl`): at 1 s, a leader on this 2-core machine
   * with a busy core beside the suite lost its lease to late keepalives twice in a minute.
   */
  electionTtlSeconds?: number;
  /** True: the caller kills them (gateways shared by a file's tests, from `afterAll`); default: killed after the test. */
  manualStop?: boolean;
}

export class GatewayProcess {
  constructor(
    readonly index: number,
    readonly child: ChildScript,
    readonly url: string,
    /** etcd's client URLs as it was given them. */
    readonly etcdEndpoints: readonly string[],
  ) {}

  /** The etcd member its calls go to now: the first it was given, or the last it logged moving to (gateway.ts). */
  get etcdEndpoint(): string {
    const moved = [...this.child.lines].reverse().find((line) => typeof line.etcdEndpoint === "string");
    return (moved?.etcdEndpoint as string | undefined) ?? (this.etcdEndpoints[0] as string);
  }

  /** The role it last announced: "leader", "follower" (also before its first announcement), or "dead". */
  get role(): "leader" | "follower" | "dead" {
    if (this.child.process.exitCode !== null || this.child.process.signalCode === "SIGKILL") return "dead";
    const last = [...this.child.lines].reverse().find((line) => line.role === "leader" || line.role === "follower");
    return last?.role === "leader" ? "leader" : "follower";
  }

  kill(): void {
    this.child.process.kill("SIGKILL");
  }
}

/** The one gateway that leads, once exactly one says so. */
export async function leaderOf(gateways: readonly GatewayProcess[], timeout = 10_000): Promise<GatewayProcess> {
  return vi.waitFor(
    () => {
      const leaders = gateways.filter((gateway) => gateway.role === "leader");
      if (leaders.length !== 1) throw new Error(`${leaders.length} gateways lead`);
      return leaders[0]!;
    },
    { timeout, interval: 50 },
  );
}
