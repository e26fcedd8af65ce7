import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawnChild, waitForLine, type Child } from "./infra/children.js";
import { cpuMs } from "./infra/procfs.js";
import { freePort } from "./infra/ports.js";
import { startEtcdCluster } from "./servers/etcd.js";
import { tempDir } from "./servers/tempdir.js";
import { subject } from "./systems.js";
import { contended } from "./workloads/contended.js";
import { uncontended } from "./workloads/uncontended.js";
import type { Subject } from "./systems.js";
import { runScript } from "./infra/script.js";
import { toolArgs } from "./infra/args.js";

/**
 * A/B of gateway builds on one 3-member etcd cluster, for the cluster row's levers (issue 12; BENCHMARKS.md,
 * "Cluster throughput (round 6)"). Each build named by one letter runs as a single-gateway cluster under
 * its own `--etcd-prefix`; they and etcd's own recipe take turns (order reversed every round), one JSON
 * line per system and round: ops/s, pair p50 (or handoff p50), the gateway's CPU per op and etcd's (all
 * three members, from /proc), etcd proposals and revisions per op (from member 1's metrics).
 *
 *   node --expose-gc --import tsx bench/src/cluster-ab.ts --a=<old dist>/cli.js --b=packages/server/dist/cli.js
 *     [--rounds=4] [--ms=4000] [--clients=16] [--workload=pairs|contended] [--x=0 (no etcd recipe)]
 *     [--at-a=leader|follower (the etcd member a gateway writes to first)] [--prof=<dir> --profile=b (CPU profile)]
 *     [--args-b="--etcd-writes-in-flight 2" (more `serve` flags for build b, split at spaces)]
 *
 * To keep an old build: `cp -r packages/server/dist packages/server/dist-old` before rebuilding. One build
 * can also run under several letters with different flags: `--a=<cli> --b=<cli> --args-b="..."`.
 */
const args = Object.fromEntries(toolArgs());
const rounds = Number(args.rounds ?? 4);
const durationMs = Number(args.ms ?? 4000);
const clients = Number(args.clients ?? 16);
const builds = Object.entries(args).filter(([name]) => /^[a-z]$/.test(name) && name !== "x");
console.log(JSON.stringify(args));

async function main(): Promise<void> {
  const etcd = await startEtcdCluster({ size: 3 });
  const secretDir = tempDir("ab-secret");
  const secretFile = join(secretDir.path, "secret");
  writeFileSync(secretFile, randomBytes(24).toString("hex"));
  const members = etcd.members;
  const isLeader = await Promise.all(members.map(async (m) => /^etcd_server_is_leader 1$/m.test(await (await fetch(`${m.clientUrl}/metrics`)).text())));
  const leaderIndex = isLeader.indexOf(true);
  // etcd's CPU split by raft role, and what the three members served (summed): per op in each JSON line.
  const counters = async () => {
    const c = await members[0]!.counters();
    const served = await Promise.all(members.map((m) => m.served()));
    const total: Record<string, number> = {};
    for (const member of served) for (const [name, value] of Object.entries(member)) total[name] = (total[name] ?? 0) + value;
    const cpu = members.map((m) => cpuMs(m.pid));
    const leaderCpu = cpu[leaderIndex] ?? Number.NaN;
    return { ...c, ...total, etcdCpuMs: cpu.reduce((sum, ms) => sum + ms, 0), etcdLeaderCpuMs: leaderCpu, etcdFollowersCpuMs: cpu.reduce((sum, ms) => sum + ms, 0) - leaderCpu };
  };
  console.log(`etcd raft leader: member ${leaderIndex + 1}`);
  const endpointsFor = (name: string) => {
    const want = args[`at-${name}`];
    if (want === undefined) return etcd.endpoints;
    const first = want === "leader" ? leaderIndex : (leaderIndex + 1) % members.length;
    return [etcd.endpoints[first]!, ...etcd.endpoints.filter((_, i) => i !== first)];
  };
  const gateways: { name: string; child: Child; subject: Subject }[] = [];
  for (const [name, cli] of builds) {
    const port = await freePort();
    const profArgs = args.prof && name === (args.profile ?? "b") ? ["--cpu-prof", `--cpu-prof-dir=${args.prof}`] : [];
    const extraArgs = (args[`args-${name}`] ?? "").split(" ").filter((arg) => arg !== "");
    const child = spawnChild({
      name: `gateway-${name}`,
      command: process.execPath,
      args: [...profArgs, resolve(cli), "serve", "--host", "127.0.0.1", "--port", String(port), "--min-ttl", "100", "--etcd", endpointsFor(name).join(","), "--etcd-prefix", `/ab-${name}/`, "--cluster-secret-file", secretFile, "--election-ttl", "2", "--log-level", "info", "--max-new-connections-per-second", "1000000", ...extraArgs],
    });
    child.process.stderr?.on("data", (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk.toString()}`));
    await waitForLine(child, (line) => (line.includes('"role":"leader"') ? line : undefined), 60_000);
    const server = { kind: "leasehold" as const, url: `ws://127.0.0.1:${port}`, pid: child.pid, description: name, stop: async () => undefined };
    gateways.push({ name, child, subject: { ...subject("leasehold", server, name), counters } });
  }
  const etcdServer = { kind: "etcd" as const, url: members[0]!.clientUrl, pid: members[0]!.pid, description: "etcd", stop: async () => undefined };
  const targets = [...gateways.map((g) => g.subject), ...(args.x === "0" ? [] : [{ ...subject("etcd", etcdServer), counters }])];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const target of order) {
      const pairs = args.workload !== "contended";
      const m = pairs ? await uncontended(target, { clients, warmupMs: 1000, durationMs, ttlMs: 10_000 }) : await contended(target, { clients, warmupMs: 1000, durationMs, ttlMs: 10_000 });
      // Per operation: a pair is two (acquire, release); a contended grant is counted as one, as the report does.
      const perOp = pairs ? 2 : 1;
      const ops = pairs ? m.pairsPerS! * 2 : m.grantsPerS!;
      console.log(
        JSON.stringify({
          round,
          system: target.label,
          opsPerS: Math.round(ops),
          p50: (m.p50Ms ?? m.handoffP50Ms)?.toFixed(2),
          serverCpuUsPerOp: Math.round(m.serverCpuUsPerOp! / perOp),
          etcdCpuUsPerOp: Math.round(((m.etcdCpuMsPerOp ?? 0) * 1000) / perOp),
          proposalsPerOp: (m.proposalsPerOp! / perOp).toFixed(3),
          revisionsPerOp: (m.revisionPerOp! / perOp).toFixed(3),
          etcdLeaderCpuUsPerOp: Math.round(((m.etcdLeaderCpuMsPerOp ?? 0) * 1000) / perOp),
          etcdFollowersCpuUsPerOp: Math.round(((m.etcdFollowersCpuMsPerOp ?? 0) * 1000) / perOp),
          served: Object.fromEntries(
            Object.entries(m)
              .filter(([name, value]) => name.startsWith("etcd:") && typeof value === "number" && value !== 0)
              .map(([name, value]) => [name.slice(5, -"PerOp".length), Number(((value as number) / perOp).toFixed(4))]),
          ),
          violations: (m.exclusionViolations ?? 0) + (m.tokenViolations ?? 0),
        }),
      );
    }
  }
  for (const g of gateways) await g.child.stop(10_000);
  await etcd.stop();
  secretDir.remove();
}


runScript(main);
