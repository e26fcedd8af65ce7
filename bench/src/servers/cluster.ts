import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Etcd3 } from "etcd3";
import { remember, RestartableChild, spawnChild, waitForLine } from "../infra/children.js";
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
  /** What etcd holds of the election and the state's layout, one line each: for a row that went wrong. */
  describeEtcd(): Promise<string[]>;
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
    describeEtcd: () => describeEtcd(etcd.endpoints),
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
  /**
   * Its last RECENT_LINES lines of output (the JSON log on stdout and anything on stderr) across its
   * kills and restarts, each marked: what a failed failover prints, since its first warnings are
   * mostly the traffic rows' slow commits long before. A run of lines with one message is kept as its
   * first line and a count: a relay refusing every try would otherwise push out everything else.
   */
  readonly recent: string[] = [];
  #lastKept: { message: string; line: string; repeats: number } | undefined;

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

  override async kill(): Promise<void> {
    this.#mark("killed with SIGKILL");
    await super.kill();
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
    this.#mark(`started, pid ${child.pid}`);
    child.process.stderr?.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") this.#keep(line);
    });
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
        this.#keep(line);
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
  }

  /** A line of the harness's own among the gateway's (whose pino lines carry their own "time"). */
  #mark(event: string): void {
    this.#keep(`[bench ${new Date().toISOString()}] ${this.name} ${event}`);
  }

  #keep(line: string): void {
    // Stacks say little here and take most of a line; the message and error text stay.
    const short = line.replace(/,"stack":"(?:[^"\\]|\\.)*"/g, "").slice(0, 600);
    const message = /"msg":"((?:[^"\\]|\\.)*)"/.exec(short)?.[1] ?? short;
    const last = this.#lastKept;
    if (last?.message === message) {
      last.repeats++;
      this.recent[this.recent.length - 1] = `${last.line} [and ${last.repeats} more lines with this message, the last at ${new Date().toISOString()}]`;
      return;
    }
    this.#lastKept = { message, line: short, repeats: 0 };
    remember(this.recent, short, RECENT_LINES);
  }
}

/** Lines of output a gateway keeps (Gateway.recent): a failover's campaign, load and step-downs fit. */
const RECENT_LINES = 50;

/**
 * The election's keys (lowest create revision leads) with their leases' remaining TTLs, and the data's
 * snapshot manifest and log keys, read from etcd with a client of the harness's own.
 */
async function describeEtcd(endpoints: readonly string[]): Promise<string[]> {
  const etcd = new Etcd3({ hosts: [...endpoints], dialTimeout: 2_000 });
  const read = async (): Promise<string[]> => {
    const lines: string[] = [];
    const election = await etcd.getAll().prefix(ELECTION_PREFIX).sort("Create", "Ascend").exec();
    if (election.kvs.length === 0) lines.push(`election ${ELECTION_PREFIX}: no key (nobody campaigns)`);
    for (const kv of election.kvs) {
      const ttl = await etcd.leaseClient.leaseTimeToLive({ ID: kv.lease });
      lines.push(`election ${kv.key.toString()} = ${kv.value.toString()}: create revision ${kv.create_revision}, lease ${kv.lease} (${ttl.TTL} s left of ${ttl.grantedTTL})`);
    }
    const manifest = await etcd.get(`${DATA_PREFIX}snapshot/manifest`).buffer();
    const log = await etcd.getAll().prefix(`${DATA_PREFIX}log/`).keys();
    lines.push(`data ${DATA_PREFIX}: snapshot manifest ${manifest ? `${manifest.length} B` : "absent"}; ${log.length} log keys${log.length > 0 ? ` (${log[0]} .. ${log.at(-1)})` : ""}; revision ${election.header.revision}`);
    return lines;
  };
  try {
    return await Promise.race([read(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no answer within 5 s")), 5_000).unref())]);
  } catch (error) {
    return [`etcd could not be read: ${error instanceof Error ? error.message : String(error)}`];
  } finally {
    etcd.close();
  }
}

/** Where the gateways keep their keys: `serve --etcd` without `--etcd-prefix` (packages/server/src/cluster/layout.ts). */
const ELECTION_PREFIX = "/leasehold/election/";
const DATA_PREFIX = "/leasehold/data/";

/** A new leader's time from winning its election to serving, and what its load read. */
export interface GatewayLoad {
  servingMs: number;
  loadMs: number;
  logEntries: number;
  logBytes: number;
  snapshotBytes: number;
}
