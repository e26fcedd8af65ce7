import { join } from "node:path";
import { drainOutput, RestartableChild, spawnChild } from "../infra/children.js";
import { freePort } from "../infra/ports.js";
import { tempDir } from "./tempdir.js";
import type { RunningServer } from "./types.js";

/** Starts a single-member etcd on 127.0.0.1 with its data (WAL, fsync'd as in production) in a temp dir. */
export async function startEtcd(fileLimit: number): Promise<RunningServer> {
  const cluster = await startEtcdCluster({ size: 1, fileLimit });
  const [member] = cluster.members as [EtcdMember];
  return {
    kind: "etcd",
    url: member.clientUrl,
    pid: member.pid,
    description: `etcd --data-dir <tmp> --listen-client-urls ${member.clientUrl}`,
    stop: () => cluster.stop(),
  };
}

export interface EtcdClusterOptions {
  size: number;
  fileLimit?: number;
  /**
   * Raft timings in ms; default etcd's own, 100/1000, at which etcd's minimum lease TTL (1.5 election
   * timeouts, in whole seconds) is 2 s. The chaos run uses 50/500 as the cluster tests do (1 s).
   */
  heartbeatMs?: number;
  electionMs?: number;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client URL, in member order. */
  readonly endpoints: readonly string[];
  /** For the report: the members and their timings. */
  readonly description: string;
  /** Kills every member and removes the data. */
  stop(): Promise<void>;
}

/**
 * etcd members on 127.0.0.1 (free ports, data in one temp dir, WAL fsync'd as in production), started
 * together (a member is healthy only once a quorum runs) and registered with the harness's children,
 * so that an interrupted run stops them too.
 */
export async function startEtcdCluster(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const dir = tempDir("etcd");
  const ports = await Promise.all(Array.from({ length: options.size * 2 }, () => freePort()));
  const names = Array.from({ length: options.size }, (_, index) => (options.size === 1 ? "default" : `etcd-${index + 1}`));
  const peerUrl = (index: number) => `http://127.0.0.1:${ports[index * 2 + 1]}`;
  const initialCluster = names.map((name, index) => `${name}=${peerUrl(index)}`).join(",");
  const timings = options.heartbeatMs === undefined ? [] : ["--heartbeat-interval", String(options.heartbeatMs), "--election-timeout", String(options.electionMs ?? options.heartbeatMs * 10)];
  const members = names.map(
    (name, index) =>
      new EtcdMember(name, `http://127.0.0.1:${ports[index * 2]}`, options.fileLimit, [
        "--name", name,
        "--data-dir", join(dir.path, name),
        "--listen-client-urls", `http://127.0.0.1:${ports[index * 2]}`,
        "--advertise-client-urls", `http://127.0.0.1:${ports[index * 2]}`,
        "--listen-peer-urls", peerUrl(index),
        "--initial-advertise-peer-urls", peerUrl(index),
        "--initial-cluster", initialCluster,
        "--initial-cluster-state", "new",
        ...timings,
        "--logger", "zap",
        "--log-level", "warn",
      ]),
  );
  const stop = async () => {
    await Promise.all(members.map((member) => member.stop()));
    dir.remove();
  };
  try {
    for (const member of members) member.spawn();
    await Promise.all(members.map((member) => member.waitHealthy(20_000)));
  } catch (error) {
    await stop();
    throw error;
  }
  const timing = options.heartbeatMs === undefined ? "etcd's default timings" : `--heartbeat-interval ${options.heartbeatMs} --election-timeout ${options.electionMs ?? options.heartbeatMs * 10}`;
  return {
    members,
    endpoints: members.map((member) => member.clientUrl),
    description: `etcd, ${options.size} member${options.size === 1 ? "" : "s"} on 127.0.0.1 (${timing})`,
    stop,
  };
}

/** One etcd process: kill -9 and restart it on its data, or SIGSTOP/SIGCONT it (the chaos run's nemesis does). */
export class EtcdMember extends RestartableChild {
  #tail: string[] = [];

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly fileLimit: number | undefined,
    readonly args: readonly string[],
  ) {
    super();
  }

  get pid(): number {
    if (!this.child) throw new Error(`etcd member ${this.name} is not running`);
    return this.child.pid;
  }

  /** Starts the process without waiting for it to serve. */
  spawn(): void {
    this.child = spawnChild({ name: this.name, command: "etcd", args: this.args, ...(this.fileLimit !== undefined && { fileLimit: this.fileLimit }) });
    this.#tail = drainOutput(this.child);
  }

  async restart(): Promise<void> {
    this.spawn();
    await this.waitHealthy(30_000);
  }

  /**
   * From the member's Prometheus text: `walFsyncs` (WAL fsyncs: one per raft batch, however many
   * proposals it holds), `proposals` (raft proposals committed) and `revision` (one per write
   * transaction, the store's revision).
   */
  async counters(): Promise<Record<string, number>> {
    const text = await (await fetch(`${this.clientUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const read = (metric: string) => Number(new RegExp(`^${metric} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    return {
      walFsyncs: read("etcd_disk_wal_fsync_duration_seconds_count"),
      proposals: read("etcd_server_proposals_committed_total"),
      revision: read("etcd_debugging_mvcc_current_revision"),
    };
  }

  /**
   * What the member served and sent, from its Prometheus text, each as `etcd:<what>`: gRPC calls
   * handled by method, watch events sent, keys put and deleted, bytes received from clients and sent
   * to peers, and WAL bytes written (cluster-ab.ts prints them per operation).
   */
  async served(): Promise<Record<string, number>> {
    const text = await (await fetch(`${this.clientUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const served: Record<string, number> = {};
    const add = (name: string, value: number) => (served[`etcd:${name}`] = (served[`etcd:${name}`] ?? 0) + value);
    for (const line of text.split("\n")) {
      const handled = /^grpc_server_handled_total\{.*grpc_method="(\w+)".*\} (\S+)$/.exec(line);
      if (handled) add(`grpc ${handled[1]}`, Number(handled[2]));
      const streamed = /^grpc_server_msg_sent_total\{.*grpc_method="(Watch|LeaseKeepAlive)".*\} (\S+)$/.exec(line);
      if (streamed) add(`grpc ${streamed[1]} msgs sent`, Number(streamed[2]));
      const plain = /^(etcd_debugging_mvcc_(?:put|delete|range|txn)_total|etcd_debugging_mvcc_events_total|etcd_network_peer_sent_bytes_total|etcd_network_client_grpc_received_bytes_total|etcd_network_client_grpc_sent_bytes_total|etcd_disk_wal_write_bytes_total|etcd_debugging_mvcc_watcher_total)(?:\{.*\})? (\S+)$/.exec(line);
      if (plain) add(plain[1]!, Number(plain[2]));
    }
    return served;
  }

  /**
   * etcd opens its client port before it can serve: /health answers {"health":"true"} only once the
   * member sees a leader and can answer requests.
   */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const child = this.child;
    if (!child) throw new Error(`etcd member ${this.name} is not running`);
    const deadline = Date.now() + timeoutMs;
    let gone = false;
    void child.exited.then(() => (gone = true));
    while (Date.now() < deadline) {
      if (gone) throw new Error(`etcd member ${this.name} exited before it was healthy:\n${this.#tail.join("\n")}`);
      try {
        const response = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
        const body = (await response.json()) as { health?: unknown };
        if (body.health === "true" || body.health === true) return;
      } catch {
        // not listening yet, or no leader yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`etcd member ${this.name} was not healthy within ${timeoutMs} ms:\n${this.#tail.join("\n")}`);
  }
}
