import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdClient } from "../../packages/server/src/cluster/etcd-client.js";
import { defer } from "./fixtures.js";
import { freePort } from "./server-process.js";

/** Debian's etcd-server (3.4), which `.ci/run` installs; `ETCD_BINARY` overrides it. */
export const ETCD_BINARY = process.env.ETCD_BINARY ?? "/usr/bin/etcd";

export interface EtcdClusterOptions {
  /** Members; default 3. */
  size?: number;
  /**
   * Raft timings in ms; default 50/500 (etcd's own: 100/1000), short enough for fast failovers and
   * long enough that a member starved of CPU on this 2-core machine does not start an election.
   * etcd's minimum lease TTL is ceil(1.5 × election timeout) in whole seconds: 1 s here.
   */
  heartbeatMs?: number;
  electionMs?: number;
  /**
   * True: the caller stops the cluster (for one cluster shared by a file's tests, from `afterAll`).
   * Default: stopped after the current test.
   */
  manualStop?: boolean;
  /** etcd's --max-request-bytes; default etcd's own 1.5 MiB. */
  maxRequestBytes?: number;
}

/**
 * A real etcd cluster on 127.0.0.1 for one test: free ports, data directories in a temp directory,
 * fast raft timings. Stopped (killed, directories removed) after the test by `defer`; if the test
 * process dies first, each member dies with it (see `spawnMember`).
 */
export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client URL, in member order. */
  readonly endpoints: string[];
  /**
   * How long the start took, until every member answered /health. Measured here: 0.2 to 2.4 s; the
   * slow starts wait in etcd's bootstrap check of its peers (a dial timeout of 1 s + the election
   * timeout) when the members start at the same moment.
   */
  readonly startMs: number;
  stop(): Promise<void>;
}

export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  if (!existsSync(ETCD_BINARY)) throw new Error(`etcd not found at ${ETCD_BINARY}: install Debian's etcd-server or set ETCD_BINARY`);
  const started = performance.now();
  const size = options.size ?? 3;
  const root = mkdtempSync(join(tmpdir(), "leasehold-etcd-"));
  const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
  const names = Array.from({ length: size }, (_, index) => `m${index}`);
  const peerUrl = (index: number) => `http://127.0.0.1:${ports[index * 2 + 1]}`;
  const initialCluster = names.map((name, index) => `${name}=${peerUrl(index)}`).join(",");
  const members = names.map(
    (name, index) =>
      new EtcdMember({
        name,
        clientUrl: `http://127.0.0.1:${ports[index * 2]}`,
        peerUrl: peerUrl(index),
        dataDir: join(root, name),
        initialCluster,
        heartbeatMs: options.heartbeatMs ?? 50,
        electionMs: options.electionMs ?? 500,
        maxRequestBytes: options.maxRequestBytes,
      }),
  );
  let stopped = false;
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((member) => member.clientUrl),
    startMs: 0,
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(members.map((member) => member.kill()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  if (!options.manualStop) defer(() => cluster.stop());
  // A member is healthy only once the cluster has a leader, so all must be started before any is.
  for (const member of members) member.spawn();
  await Promise.all(members.map((member) => member.waitHealthy()));
  return { ...cluster, startMs: performance.now() - started };
}

/**
 * A member that is not etcd's raft leader now, and every endpoint with it first (the order a client
 * sends to): for tests that pause or kill a member without an etcd election on top of it.
 */
export async function raftFollower(cluster: EtcdCluster): Promise<{ member: EtcdMember; endpointsFromIt: string[] }> {
  const member = await memberLeading(cluster, false);
  return { member, endpointsFromIt: [member.clientUrl, ...cluster.endpoints.filter((endpoint) => endpoint !== member.clientUrl)] };
}

/** The member that is etcd's raft leader now (where a leading gateway sends its calls: EtcdClient.followRaftLeader). */
export async function raftLeader(cluster: EtcdCluster): Promise<EtcdMember> {
  return memberLeading(cluster, true);
}

async function memberLeading(cluster: EtcdCluster, leading: boolean): Promise<EtcdMember> {
  const probe = new EtcdClient(cluster.endpoints);
  try {
    const statuses = await probe.status();
    const member = cluster.members.find((each) => statuses.some((status) => status.endpoint === each.clientUrl && status.ok && status.isLeader === leading));
    if (!member) throw new Error(`no etcd member reports itself a raft ${leading ? "leader" : "follower"}: ${JSON.stringify(statuses)}`);
    return member;
  } finally {
    probe.close();
  }
}

interface MemberConfig {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  initialCluster: string;
  heartbeatMs: number;
  electionMs: number;
  maxRequestBytes: number | undefined;
}

/** One etcd process: kill -9 and restart it (same data directory), or SIGSTOP/SIGCONT it. */
export class EtcdMember {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log: string[] = [];

  constructor(readonly config: MemberConfig) {}

  get name(): string {
    return this.config.name;
  }

  get clientUrl(): string {
    return this.config.clientUrl;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** SIGKILL, and resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    child.kill("SIGKILL");
    await this.#exited;
  }

  /** Starts a killed member again on its data directory and waits until it serves. */
  async restart(): Promise<void> {
    if (this.#child) throw new Error(`etcd member ${this.name} is still running; kill it first`);
    this.spawn();
    await this.waitHealthy();
  }

  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  /** Starts the process without waiting (a member is healthy only once a quorum runs). */
  spawn(): void {
    const { config } = this;
    const args = [
      "--name", config.name,
      "--data-dir", config.dataDir,
      "--listen-client-urls", config.clientUrl,
      "--advertise-client-urls", config.clientUrl,
      "--listen-peer-urls", config.peerUrl,
      "--initial-advertise-peer-urls", config.peerUrl,
      "--initial-cluster", config.initialCluster,
      "--initial-cluster-state", "new",
      "--initial-cluster-token", "leasehold-test",
      "--heartbeat-interval", String(config.heartbeatMs),
      "--election-timeout", String(config.electionMs),
      "--logger", "zap",
      "--log-level", "warn",
      ...(config.maxRequestBytes === undefined ? [] : ["--max-request-bytes", String(config.maxRequestBytes)]),
    ];
    // Parent-death guard: setpriv (util-linux, in every Debian) sets PR_SET_PDEATHSIG before it execs
    // etcd, so the kernel kills the member when the test process dies, however it dies (even -9),
    // and a SIGSTOPped member too (SIGKILL needs no SIGCONT).
    const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", ETCD_BINARY, ...args], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ETCDCTL_API: "3" } });
    this.#log = [];
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.#log.push(chunk);
      if (this.#log.length > 50) this.#log.shift();
    });
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    void this.#exited.then(() => {
      if (this.#child === child) this.#child = undefined;
    });
    this.#child = child;
  }

  /**
   * etcd opens its client port before it can serve; /health says true only once the member sees a
   * leader and can answer reads.
   */
  async waitHealthy(timeoutMs = 15_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (!this.#child) throw new Error(`etcd member ${this.name} exited before it was healthy:\n${this.#log.join("")}`);
      try {
        const response = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
        const body = (await response.json()) as { health?: unknown };
        if (body.health === "true") return;
      } catch {
        // not listening yet, or no leader yet
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`etcd member ${this.name} was not healthy within ${timeoutMs} ms:\n${this.#log.join("")}`);
  }
}
