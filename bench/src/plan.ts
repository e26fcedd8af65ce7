import type { SystemName } from "./adapters/types.js";
import { fileLimits } from "./infra/machine.js";
import type { Profile } from "./profile.js";
import type { Row, WorkloadId } from "./results.js";
import { startLeaseholdCluster, type Gateway, type LeaseholdCluster } from "./servers/cluster.js";
import { startEtcd } from "./servers/etcd.js";
import { startLeasehold } from "./servers/leasehold.js";
import { startRedis } from "./servers/redis.js";
import type { RunningServer } from "./servers/types.js";
import { inPassOrder, subject, type Subject } from "./systems.js";
import { clientsLabel, mixedLabel, sessionsLabel, waitersLabel } from "./report/targets.js";
import { clusterSessions } from "./workloads/cluster-sessions.js";
import { contended } from "./workloads/contended.js";
import { failover } from "./workloads/failover.js";
import type { Metrics } from "./workloads/common.js";
import { keyValue } from "./workloads/key-value.js";
import { mixed } from "./workloads/mixed.js";
import { queueDepth } from "./workloads/queue-depth.js";
import { sessions } from "./workloads/sessions.js";
import { uncontended } from "./workloads/uncontended.js";
import { ATTACK_VARIANTS, underAttack } from "./workloads/under-attack.js";

export const ALL_WORKLOADS: readonly WorkloadId[] = ["uncontended", "contended", "queue-depth", "sessions", "key-value", "durable", "under-attack", "cluster", "failover", "mixed", "cluster-sessions"];

/** Loopback addresses the many-session clients bind to (the whole 127.0.0.0/8 is local on Linux). */
const LOCAL_ADDRESSES = Array.from({ length: 16 }, (_, index) => `127.0.0.${index + 2}`);
/** File descriptors a server keeps for itself beyond its client sockets. */
const FD_RESERVE = 256;

/** The durable workload's in-memory and default durable leasehold servers, as the report names them. */
export const DURABLE_LABELS = { memory: "leasehold --memory", durable: "leasehold --data" } as const;

/**
 * The cluster rows' systems. etcd's label is the plain "etcd", so that the report's "vs etcd" column
 * compares with it: there it is the same 3-member cluster the gateways run on, not the single member.
 */
export const CLUSTER_LABELS = {
  leader: "leasehold cluster, via the leader",
  follower: "leasehold cluster, via a follower (relayed)",
  single: "leasehold --data (one server)",
  etcd: "etcd",
} as const;

export interface PlanResult {
  rows: Row[];
  notes: string[];
  servers: string[];
  layout: { workload: WorkloadId; variants: string[]; systems: string[] }[];
}

/**
 * Runs the workloads in order, every system in every pass (order alternating between passes), and
 * records one row per measurement. A failing measurement is recorded as such and the run goes on.
 */
export class Plan {
  private readonly rows: Row[] = [];
  private readonly notes: string[] = [];
  private readonly servers = new Set<string>();
  private readonly layout: PlanResult["layout"] = [];
  private readonly limits = fileLimits();
  private subjects: Subject[] = [];
  private leasehold: RunningServer | undefined;
  /** The `--data` server, started with the others so that its start-up overlaps theirs. */
  private durableServer: Promise<RunningServer> | undefined;
  /** 3 etcd members and 3 gateways, started by the first cluster workload, stopped at the end of the run. */
  private leaseholdCluster: Promise<LeaseholdCluster> | undefined;

  constructor(
    private readonly profile: Profile,
    private readonly repoRoot: string,
    private readonly log: (line: string) => void,
  ) {}

  async run(only: ReadonlySet<WorkloadId>): Promise<PlanResult> {
    if (only.has("durable")) {
      this.durableServer = startLeasehold(this.repoRoot, { kind: "durable" }, this.limits.hard);
      // Awaited in durable(); until then a failure must not count as unhandled.
      this.durableServer.catch(() => undefined);
    }
    await this.startMainServers();
    const steps: Record<WorkloadId, () => Promise<void>> = {
      uncontended: () => this.uncontended(),
      contended: () => this.contended(),
      "queue-depth": () => this.queueDepth(),
      sessions: () => this.sessions(),
      "key-value": () => this.keyValue(),
      durable: () => this.durable(),
      "under-attack": () => this.underAttack(),
      cluster: () => this.cluster(),
      failover: () => this.failover(),
      mixed: () => this.mixed(),
      "cluster-sessions": () => this.clusterSessions(),
    };
    try {
      for (const workload of ALL_WORKLOADS) if (only.has(workload)) await steps[workload]();
    } finally {
      await this.leaseholdCluster?.then((cluster) => cluster.stop()).catch(() => undefined);
    }
    return { rows: this.rows, notes: this.notes, servers: [...this.servers], layout: this.layout };
  }

  private async startMainServers(): Promise<void> {
    const [redis, etcd, leasehold] = await Promise.allSettled([
      startRedis(this.limits.hard),
      startEtcd(this.limits.hard),
      startLeasehold(this.repoRoot, { kind: "memory" }, this.limits.hard),
    ]);
    if (redis.status === "rejected") throw redis.reason;
    if (etcd.status === "rejected") throw etcd.reason;
    const subjects: Subject[] = [];
    if (leasehold.status === "fulfilled") {
      this.leasehold = leasehold.value;
      subjects.push(subject("leasehold", leasehold.value));
      this.servers.add(leasehold.value.description);
    } else {
      this.note(`leasehold was not measured: its server did not start (${firstLine(leasehold.reason)})`);
    }
    subjects.push(subject("redis", redis.value), subject("redis-fenced", redis.value), subject("etcd", etcd.value));
    this.servers.add(redis.value.description).add(etcd.value.description);
    this.subjects = subjects;
  }

  private async uncontended(): Promise<void> {
    const { uncontended: params, lockTtlMs } = this.profile;
    const variants = params.clients.map(clientsLabel);
    this.layout.push({ workload: "uncontended", variants, systems: this.labels() });
    for (const clients of params.clients) {
      await this.eachPass("uncontended", clientsLabel(clients), this.subjects, (target) =>
        uncontended(target, { clients, warmupMs: params.warmupMs, durationMs: params.durationMs, ttlMs: lockTtlMs }),
      );
    }
  }

  private async contended(): Promise<void> {
    const { contended: params, lockTtlMs } = this.profile;
    const variant = clientsLabel(params.clients);
    this.layout.push({ workload: "contended", variants: [variant], systems: this.labels() });
    await this.eachPass("contended", variant, this.subjects, (target) => contended(target, { ...params, ttlMs: lockTtlMs }));
  }

  private async queueDepth(): Promise<void> {
    const { queueDepth: params, lockTtlMs } = this.profile;
    this.layout.push({ workload: "queue-depth", variants: params.depths.map(waitersLabel), systems: this.labels() });
    for (const depth of params.depths) {
      await this.eachPass(
        "queue-depth",
        waitersLabel(depth),
        this.subjects,
        (target) =>
          target.system.queued
            ? queueDepth(target, { ...params, depth, ttlMs: Math.max(lockTtlMs, 600_000) })
            : Promise.resolve(undefined),
        "no server-side queue (waiting is client-side retrying): not applicable",
        (target, pass) => this.inEtcdLargeBudget(target.system.name, depth, pass),
      );
    }
  }

  private async sessions(): Promise<void> {
    const params = this.profile.sessions;
    // A server holds one socket per session; nothing here can raise the hard limit (no CAP_SYS_RESOURCE).
    const serverCap = this.limits.hard - FD_RESERVE;
    const leaseholdLevel = Math.min(params.leaseholdLevel, serverCap);
    if (leaseholdLevel < params.leaseholdLevel) {
      this.note(
        `sessions: leasehold's large level was capped from ${params.leaseholdLevel.toLocaleString("en-US")} to ${leaseholdLevel.toLocaleString("en-US")} sessions: the hard open-file limit here is ${this.limits.hard} and cannot be raised (\`ulimit -n\` above it fails without CAP_SYS_RESOURCE), and a server needs one descriptor per session.`,
      );
    }
    const systems: SystemName[] = this.leasehold === undefined ? ["redis", "etcd"] : ["leasehold", "redis", "etcd"];
    const variants = [...params.levels, leaseholdLevel].filter((level, index, all) => all.indexOf(level) === index).map(sessionsLabel);
    this.layout.push({ workload: "sessions", variants, systems });
    for (let pass = 1; pass <= params.passes; pass++) {
      for (const system of inPassOrder(systems, pass)) {
        const levels = (system === "leasehold" ? [...params.levels, leaseholdLevel] : params.levels).filter((level) =>
          this.inEtcdLargeBudget(system, level, pass),
        );
        const started = performance.now();
        try {
          const measured = await sessions(system, () => this.freshServer(system), {
            repoRoot: this.repoRoot,
            levels: [...new Set(levels)],
            ttlMs: params.ttlMs,
            settleMs: params.settleMs,
            idleMs: params.idleMs,
            perHolder: Math.min(15_000, this.limits.hard - FD_RESERVE),
            localAddresses: LOCAL_ADDRESSES,
            fileLimit: this.limits.hard,
            // etcd's clients open slowest (a gRPC channel, a lease and its keep-alive stream each).
            growMsPerSession: system === "etcd" ? 40 : 15,
          });
          for (const level of measured) {
            this.record({
              workload: "sessions",
              variant: sessionsLabel(level.sessions),
              system,
              pass,
              metrics: level.metrics,
              ...(level.note !== undefined && { note: level.note }),
              ...(level.skipped !== undefined && { skipped: level.skipped }),
            });
          }
        } catch (error) {
          for (const level of levels) this.record({ workload: "sessions", variant: sessionsLabel(level), system, pass, metrics: {}, skipped: `failed: ${firstLine(error)}` });
        }
        this.log(`sessions pass ${pass} ${system}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      }
    }
  }

  private async keyValue(): Promise<void> {
    const params = this.profile.keyValue;
    this.layout.push({ workload: "key-value", variants: ["put", "get"], systems: this.labels() });
    // redis and redis-fenced differ only in locking: one key-value row for Redis.
    const targets = this.subjects.filter((target) => target.system.name !== "redis-fenced");
    for (const op of ["put", "get"] as const) {
      await this.eachPass("key-value", op, targets, (target) => keyValue(target, op, params));
    }
  }

  private async durable(): Promise<void> {
    const params = this.profile.durable;
    // Three fresh servers side by side: the in-memory baseline must not carry what workloads 1-5
    // left in the main server (a 10,000-waiter queue's leases, thousands of keys).
    const started = await Promise.allSettled([
      startLeasehold(this.repoRoot, { kind: "memory" }, this.limits.hard),
      this.durableServer ?? startLeasehold(this.repoRoot, { kind: "durable" }, this.limits.hard),
      // Without an fsync per commit: what the fsync costs, and what `--sync process` buys back.
      startLeasehold(this.repoRoot, { kind: "durable", sync: "process" }, this.limits.hard),
    ]);
    const servers = started.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));
    try {
      const failed = started.find((outcome) => outcome.status === "rejected");
      if (failed !== undefined) {
        this.note(`workload 6 (durable vs in-memory) skipped: a server did not start (${firstLine(failed.reason)})`);
        return;
      }
      const [memory, durable, unsynced] = servers as [RunningServer, RunningServer, RunningServer];
      for (const server of servers) this.servers.add(server.description);
      const targets = [
        subject("leasehold", memory, DURABLE_LABELS.memory),
        subject("leasehold", durable, DURABLE_LABELS.durable),
        subject("leasehold", unsynced, "leasehold --data --sync process"),
      ];
      this.layout.push({ workload: "durable", variants: ["put, 16 clients", "lock pairs, 16 clients"], systems: targets.map((target) => target.label) });
      const { keysPerClient, valueBytes } = this.profile.keyValue;
      await this.eachPass("durable", "put, 16 clients", targets, (target) => keyValue(target, "put", { ...params, keysPerClient, valueBytes }));
      await this.eachPass("durable", "lock pairs, 16 clients", targets, async (target) => {
        const metrics = await uncontended(target, { ...params, ttlMs: this.profile.lockTtlMs });
        return { ...metrics, opsPerS: metrics.pairsPerS as number };
      });
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  }

  /**
   * leasehold alone (the attacks are on its own protocol): a fresh server per pass, since parked
   * sessions outlive their phase; each phase is one row, so a ratio to "quiet" pairs the passes.
   */
  private async underAttack(): Promise<void> {
    const params = this.profile.underAttack;
    this.layout.push({ workload: "under-attack", variants: [...ATTACK_VARIANTS], systems: ["leasehold"] });
    for (let pass = 1; pass <= this.profile.passes; pass++) {
      try {
        const measured = await underAttack(this.repoRoot, this.limits.hard, params);
        for (const [variant, metrics] of measured) this.record({ workload: "under-attack", variant, system: "leasehold", pass, metrics });
      } catch (error) {
        for (const variant of ATTACK_VARIANTS) this.record({ workload: "under-attack", variant, system: "leasehold", pass, metrics: {}, skipped: `failed: ${firstLine(error)}` });
      }
    }
  }

  /**
   * Lock pairs and contended grants through the cluster (via the leader, and via a follower that relays),
   * beside one durable server and etcd's own lock recipe on the same 3 etcd members, alternating.
   */
  private async cluster(): Promise<void> {
    const params = this.profile.cluster;
    const [cluster, single] = await Promise.allSettled([this.startCluster(), startLeasehold(this.repoRoot, { kind: "durable" }, this.limits.hard)]);
    try {
      if (cluster.status === "rejected" || single.status === "rejected") {
        const reason = cluster.status === "rejected" ? cluster.reason : single.status === "rejected" ? single.reason : undefined;
        this.note(`the cluster rows were not measured: a server did not start (${firstLine(reason)})`);
        return;
      }
      const leader = await cluster.value.leader();
      const follower = cluster.value.gateways.find((gateway) => gateway !== leader)!;
      const etcdMember = cluster.value.etcd.members[0]!;
      this.servers.add(single.value.description);
      const etcd: RunningServer = { kind: "etcd", url: etcdMember.clientUrl, pid: etcdMember.pid, description: cluster.value.etcd.description, stop: async () => undefined };
      // etcd's own counters, for the cluster and etcd's recipe alike: how many writes and WAL fsyncs an operation costs.
      const counters = () => etcdMember.counters();
      const targets = [
        { ...subject("leasehold", gatewayServer(leader, leader), CLUSTER_LABELS.leader), counters },
        { ...subject("leasehold", gatewayServer(follower, leader), CLUSTER_LABELS.follower), counters },
        subject("leasehold", single.value, CLUSTER_LABELS.single),
        { ...subject("etcd", etcd, CLUSTER_LABELS.etcd), counters },
      ];
      const variants = { pairs: `lock pairs, ${params.clients} clients`, contended: `contended grants, ${params.clients} clients on one lock` };
      this.layout.push({ workload: "cluster", variants: [variants.pairs, variants.contended], systems: targets.map((target) => target.label) });
      const { lockTtlMs } = this.profile;
      await this.eachPass("cluster", variants.pairs, targets, async (target) => {
        const metrics = await uncontended(target, { ...params, ttlMs: lockTtlMs });
        return { ...metrics, opsPerS: metrics.pairsPerS as number };
      });
      await this.eachPass("cluster", variants.contended, targets, async (target) => {
        const metrics = await contended(target, { ...params, ttlMs: lockTtlMs });
        return { ...metrics, opsPerS: metrics.grantsPerS as number };
      });
    } finally {
      if (single.status === "fulfilled") await single.value.stop();
    }
  }

  /**
   * Sessions held through a cluster of gateways that multiplex (its own cluster: the followers it
   * needs and their clients would not fit the shared one's). One pass: growing 50,000 sessions takes minutes.
   */
  private async clusterSessions(): Promise<void> {
    const params = this.profile.clusterSessions;
    const variant = `${sessionsLabel(params.sessions)} through multiplexing gateways`;
    this.layout.push({ workload: "cluster-sessions", variants: [variant], systems: ["leasehold cluster"] });
    const base = { workload: "cluster-sessions" as const, variant, system: "leasehold cluster", pass: 1 };
    try {
      const { metrics, note } = await clusterSessions({
        ...params,
        repoRoot: this.repoRoot,
        perProcess: Math.min(params.perProcess, this.limits.hard - FD_RESERVE),
        localAddresses: LOCAL_ADDRESSES,
        fileLimit: this.limits.hard,
        growMsPerSession: 15,
      });
      this.record({ ...base, metrics, ...(note !== undefined && { note }) });
    } catch (error) {
      this.record({ ...base, metrics: {}, skipped: `failed: ${firstLine(error)}` });
    }
  }

  /** Kills of the leading gateway, each timed to the first grant by the next leader (one row: over every kill). */
  private async failover(): Promise<void> {
    const { kills, electionTtlS } = this.profile.cluster;
    const variant = `kill -9 of the leading gateway, --election-ttl ${electionTtlS}`;
    this.layout.push({ workload: "failover", variants: [variant], systems: ["leasehold cluster"] });
    const base = { workload: "failover" as const, variant, system: "leasehold cluster", pass: 1 };
    try {
      const cluster = await this.startCluster();
      this.record({ ...base, metrics: await failover(cluster, { kills, maxMs: 30_000 }, this.log) });
    } catch (error) {
      this.record({ ...base, metrics: {}, skipped: `failed: ${firstLine(error)}` });
    }
  }

  /** Every client loops: waiting acquire on one of many locks, fenced writes, release; each system as it is used. */
  private async mixed(): Promise<void> {
    const params = this.profile.mixed;
    const variant = mixedLabel(params);
    this.layout.push({ workload: "mixed", variants: [variant], systems: this.labels() });
    await this.eachPass("mixed", variant, this.subjects, (target) => mixed(target, { ...params, ttlMs: this.profile.lockTtlMs }));
  }

  private startCluster(): Promise<LeaseholdCluster> {
    this.leaseholdCluster ??= startLeaseholdCluster(this.repoRoot, {
      etcd: { size: 3, fileLimit: this.limits.hard },
      gateways: 3,
      electionTtlS: this.profile.cluster.electionTtlS,
      cli: "built",
      fileLimit: this.limits.hard,
    }).then((cluster) => {
      this.servers.add(cluster.description);
      return cluster;
    });
    return this.leaseholdCluster;
  }

  /** Runs one measurement per pass per subject, subjects in alternating order. */
  private async eachPass(
    workload: WorkloadId,
    variant: string,
    targets: readonly Subject[],
    measure: (target: Subject) => Promise<Metrics | undefined>,
    notApplicable: string | ((target: Subject) => string) = "not applicable",
    include: (target: Subject, pass: number) => boolean = () => true,
  ): Promise<void> {
    for (let pass = 1; pass <= this.profile.passes; pass++) {
      for (const target of inPassOrder(targets, pass)) {
        if (!include(target, pass)) continue;
        const base = { workload, variant, system: target.label, pass };
        // Every system's clients live in this process: collect what earlier measurements left
        // (10,000 queued waiters, say) so that no system pays for another's garbage.
        collectGarbage();
        try {
          const metrics = await measure(target);
          if (metrics === undefined) {
            this.record({ ...base, metrics: {}, skipped: typeof notApplicable === "string" ? notApplicable : notApplicable(target) });
          } else {
            this.record({ ...base, metrics });
          }
        } catch (error) {
          this.record({ ...base, metrics: {}, skipped: `failed: ${firstLine(error)}` });
        }
      }
    }
  }

  private record(row: Row): void {
    this.rows.push(row);
    const headline = Object.entries(row.metrics)
      .slice(0, 3)
      .map(([name, value]) => `${name}=${Number.isFinite(value) ? Number(value.toPrecision(4)) : value}`)
      .join(" ");
    this.log(`${row.workload} | ${row.variant} | pass ${row.pass} | ${row.system}: ${row.skipped ?? headline}`);
  }

  private note(text: string): void {
    this.notes.push(text);
    this.log(`note: ${text}`);
  }

  private etcdLargeNoted = false;

  /** Whether etcd runs `level` in `pass` (see `Profile.etcdLarge`); says so in the notes the first time it does not. */
  private inEtcdLargeBudget(system: SystemName, level: number, pass: number): boolean {
    const { fromLevel, passes } = this.profile.etcdLarge;
    if (system !== "etcd" || level < fromLevel || pass <= passes) return true;
    if (this.etcdLargeNoted) return false;
    this.etcdLargeNoted = true;
    this.note(
      `etcd at ${fromLevel.toLocaleString("en-US")} waiters and ${fromLevel.toLocaleString("en-US")} sessions ran ${passes} pass${passes === 1 ? "" : "es"} instead of ${this.profile.passes}: each such pass takes two to four minutes here (filling the queue or opening the sessions is bound by the CPU of etcd's gRPC client), which would push the full run well past 15 minutes.`,
    );
    return false;
  }

  private labels(): string[] {
    return this.subjects.map((target) => target.label);
  }

  private freshServer(system: SystemName): Promise<RunningServer> {
    switch (system) {
      case "leasehold":
        return startLeasehold(this.repoRoot, { kind: "memory" }, this.limits.hard);
      case "redis":
      case "redis-fenced":
        return startRedis(this.limits.hard);
      case "etcd":
        return startEtcd(this.limits.hard);
    }
  }
}

/**
 * A gateway as a measured server: clients dial `dialled`; the CPU read is the leader's, which runs the
 * rules (a follower only relays; etcd's CPU is apart, in its own processes).
 */
function gatewayServer(dialled: Gateway, leader: Gateway): RunningServer {
  return { kind: "leasehold", url: dialled.url, pid: leader.pid, description: `${dialled.name} (${dialled.role})`, stop: async () => undefined };
}

/** One line for the report: the error's first line and, for a child's captured output, its last line too. */
function firstLine(error: unknown): string {
  const lines = (error instanceof Error ? error.message : String(error)).split("\n").filter((line) => line.trim() !== "");
  const first = lines[0] ?? "unknown error";
  const last = lines[lines.length - 1];
  return lines.length > 1 && last !== undefined ? `${first} … ${last.trim().slice(0, 300)}` : first;
}

/** A full collection of the harness's heap, when node runs with --expose-gc (`npm run bench` does). */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
