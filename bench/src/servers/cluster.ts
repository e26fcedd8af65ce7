import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { drainOutput, RestartableChild, spawnChild, waitForLine } from "../infra/children.js";
import { freePort } from "../infra/ports.js";
import { profilingFlags } from "../infra/profiling.js";
import { startEtcdCluster, type EtcdCluster, type EtcdClusterOptions } from "./etcd.js";
import { tempDir } from "./tempdir.js";

export interface LeaseholdClusterOptions {
  /** etcd's members and raft timings. */
  etcd: EtcdClusterOptions;
  gateways: number;
  /** `--election-ttl` in whole seconds: at least etcd's minimum lease TTL at its timings. */
  electionTtlS: number;
  /**
   * "built": packages/server/dist/cli.js, as users run it (the benchmark, after `npm run build`);
   * "sources": the TypeScript sources through tsx, so that CI's chaos tier needs no build.
   */
  cli: "built" | "sources";
  /** Flags every gateway gets besides the cluster's own. */
  flags?: readonly string[];
  fileLimit?: number;
}

/** etcd members and leasehold gateways (`serve --etcd`) over them, each its own process on 127.0.0.1. */
export interface LeaseholdCluster {
  readonly etcd: EtcdCluster;
  readonly gateways: readonly Gateway[];
  /** Every gateway's URL, in gateway order: what a client passes to `connect([...])`. */
  readonly urls: readonly string[];
  readonly description: string;
  /** The one running gateway that says it leads, once exactly one does. */
  leader(timeoutMs?: number): Promise<Gateway>;
  /** Stops every gateway, then every etcd member, and removes the data. */
  stop(): Promise<void>;
}

export async function startLeaseholdCluster(repoRoot: string, options: LeaseholdClusterOptions): Promise<LeaseholdCluster> {
  const etcd = await startEtcdCluster(options.etcd);
  const secretDir = tempDir("cluster-secret");
  const secretFile = join(secretDir.path, "cluster-secret");
  writeFileSync(secretFile, randomBytes(24).toString("hex"));
  const ports = await Promise.all(Array.from({ length: options.gateways }, () => freePort()));
  const gateways = ports.map(
    (port, index) =>
      new Gateway(`gateway-${index + 1}`, `ws://127.0.0.1:${port}`, repoRoot, options, [
        "serve", "--host", "127.0.0.1", "--port", String(port), "--min-ttl", "100",
        "--etcd", etcd.endpoints.join(","), "--cluster-secret-file", secretFile, "--election-ttl", String(options.electionTtlS),
        "--log-level", "info", ...(options.flags ?? []),
      ]),
  );
  const stop = async () => {
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    await etcd.stop();
    secretDir.remove();
  };
  try {
    await Promise.all(gateways.map((gateway) => gateway.restart()));
  } catch (error) {
    await stop();
    throw error;
  }
  const cluster: LeaseholdCluster = {
    etcd,
    gateways,
    urls: gateways.map((gateway) => gateway.url),
    description: `${options.gateways} leasehold gateways (serve --etcd, --election-ttl ${options.electionTtlS}) over ${etcd.description}`,
    async leader(timeoutMs = 30_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const leaders = gateways.filter((gateway) => gateway.role === "leader");
        if (leaders.length === 1) return leaders[0]!;
        if (performance.now() > deadline) throw new Error(`${leaders.length} gateways lead after ${timeoutMs} ms (one should)`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    stop,
  };
  return cluster;
}

/**
 * One gateway process. Its role is the last one it announced in its JSON log (`"role":"leader"` or
 * `"follower"`); a gateway killed or not yet started is "down". It listens on a port fixed for the
 * run, so that after a kill -9 and a restart its clients find it where they look.
 */
export class Gateway extends RestartableChild {
  #role: "leader" | "follower" | "down" = "down";
  #lastLoad: GatewayLoad | undefined;
  /** Its first warnings and errors (pino levels 40 and up), for a row that went wrong. */
  readonly warnings: string[] = [];
  /** How many warnings and errors it logged, by message, and how many leases it saw expire ("lease expired", logged at info). */
  readonly warningCounts = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly url: string,
    readonly repoRoot: string,
    readonly options: Pick<LeaseholdClusterOptions, "cli" | "fileLimit">,
    readonly args: readonly string[],
  ) {
    super();
  }

  get role(): "leader" | "follower" | "down" {
    return this.#role;
  }

  /** The figures of its last load as a new leader (its "loaded the state from etcd" log line). */
  get lastLoad(): GatewayLoad | undefined {
    return this.#lastLoad;
  }

  get pid(): number {
    if (!this.child) throw new Error(`${this.name} is not running`);
    return this.child.pid;
  }

  /** Starts it (again, after a kill) and resolves once it listens. */
  async restart(): Promise<void> {
    const entry = this.options.cli === "built" ? [resolve(this.repoRoot, "packages/server/dist/cli.js")] : ["--conditions=source", "--import", "tsx", resolve(this.repoRoot, "packages/server/src/cli.ts")];
    const child = spawnChild({
      name: `leasehold-${this.name}`,
      command: process.execPath,
      args: [...profilingFlags(), ...entry, ...this.args],
      cwd: this.repoRoot,
      ...(this.options.fileLimit !== undefined && { fileLimit: this.options.fileLimit }),
    });
    this.child = child;
    this.#role = "follower";
    void child.exited.then(() => {
      if (this.child === child) this.#role = "down";
    });
    let buffered = "";
    child.process.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        // pino's JSON lines; only a role announcement contains this.
        const role = /"role":"(leader|follower)"/.exec(line)?.[1];
        if (role === "leader" || role === "follower") this.#role = role;
        if (line.includes('"loaded the state from etcd"')) this.#lastLoad = JSON.parse(line) as GatewayLoad;
        if (/"level":[4-6]0/.test(line) || line.includes('"msg":"lease expired"')) {
          if (this.warnings.length < 20) this.warnings.push(line.slice(0, 400));
          const message = /"msg":"([^"]*)"/.exec(line)?.[1] ?? "?";
          this.warningCounts.set(message, (this.warningCounts.get(message) ?? 0) + 1);
        }
      }
    });
    // From the sources through tsx a start took 3 to 4 s at a load of 15 on 2 cores (see single-node.ts).
    await waitForLine(child, (line) => (line.includes('"url"') ? line : undefined), 60_000);
    drainOutput(child);
  }
}

/** A new leader's time from winning its election to serving, and what its load read. */
export interface GatewayLoad {
  servingMs: number;
  loadMs: number;
  logEntries: number;
  logBytes: number;
  snapshotBytes: number;
}
