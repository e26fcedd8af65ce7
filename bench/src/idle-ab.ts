import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { drainOutput, spawnChild, stopAllChildren, waitForLine, type Child } from "./infra/children.js";
import { Inspector } from "./infra/inspector.js";
import { cpuMs, mainThreadWaits, systemCpuMs, threadCpuMs, writeSyscalls } from "./infra/procfs.js";
import { Holders } from "./sessions/holders.js";
import { toolArgs } from "./infra/args.js";

/**
 * Idle server CPU at many sessions, old build against new, alternating (issue 16's idle row, measured
 * apart from the full bench, which also runs Redis and etcd at every level):
 *
 *   node --import tsx bench/src/idle-ab.ts --roots=/tmp/old-checkout,. [--sessions=10000] [--passes=3]
 *     [--idle-ms=10000] [--ttl-ms=15000] [--profile-dir=DIR] [--windows=K] [--clients=each]
 *
 * Each root is a checkout with a built server (`npm run build`); the session holders are this
 * checkout's, or with `--clients=each` each root's own (its built client), so that the client side is
 * compared too (`clientCpuPct`, `clientUsPerExchange`: the holder processes' utime + stime). Per pass and root: a fresh `serve --memory` with the bench's flags, the sessions grown as
 * the sessions row grows them (one lock under a kept-alive lease each, the row's TTL of 15 s), a settle,
 * then the server's utime + stime from /proc over the idle window. With `--profile-dir`, a V8 CPU profile
 * of that window alone (through the inspector, so the growth is not in it) is written there per run,
 * with a sampling profile of every allocation made in it (garbage included: `.heapprofile`).
 * Prints one JSON line per run: CPU % of a core and µs per heartbeat exchange (pings sent at the
 * protocol's interval, a quarter of the TTL capped by the server's heartbeat).
 */

const args = toolArgs();
const roots = (args.get("roots") ?? ".").split(",").map((root) => resolve(root));
const sessions = Number(args.get("sessions") ?? 10_000);
const passes = Number(args.get("passes") ?? 3);
const idleMs = Number(args.get("idle-ms") ?? 10_000);
const ttlMs = Number(args.get("ttl-ms") ?? 15_000);
const profileDir = args.get("profile-dir");
const windows = Number(args.get("windows") ?? 0);
const clientsOfEachRoot = args.get("clients") === "each";
const FILE_LIMIT = 20_000;
const HEARTBEAT_MS = 3_333; // the server's default heartbeat for a session without kept-alive leases
const LOCAL_ADDRESSES = Array.from({ length: 16 }, (_, index) => `127.0.0.${index + 2}`);

async function main(): Promise<void> {
  const repoRoot = resolve(".");
  if (windows > 0) return sideBySide(repoRoot);
  for (let pass = 1; pass <= passes; pass++) {
    // Alternate the order each pass, so that neither build always runs first.
    const order = pass % 2 === 1 ? roots : [...roots].reverse();
    for (const root of order) {
      const result = await measure(repoRoot, root, pass);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    }
  }
}

async function measure(repoRoot: string, root: string, pass: number): Promise<Record<string, unknown>> {
  const server = await startServer(root);
  const holders = new Holders({ repoRoot: clientsOfEachRoot ? root : repoRoot, config: { system: "leasehold", ttlMs, concurrency: 100 }, perHolder: 15_000, localAddresses: LOCAL_ADDRESSES, fileLimit: FILE_LIMIT });
  try {
    await holders.start();
    await holders.grow(sessions, server.url, 300_000);
    await sleep(2_000);
    const inspector = profileDir === undefined ? undefined : await Inspector.open(server.inspectorUrl);
    await inspector?.call("Profiler.enable");
    await inspector?.call("Profiler.setSamplingInterval", { interval: 200 });
    await inspector?.call("Profiler.start");
    // Every allocation sampled, collected or not: where the garbage of an idle server comes from.
    await inspector?.call("HeapProfiler.startSampling", { samplingInterval: 4_096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const pid = server.child.pid;
    const [cpuBefore, systemBefore, waitsBefore, threadsBefore, writesBefore, clientBefore] = [cpuMs(pid), systemCpuMs(pid), mainThreadWaits(pid), threadCpuMs(pid), writeSyscalls(pid), holders.cpuMs()];
    const started = performance.now();
    await sleep(idleMs);
    const cpu = cpuMs(pid) - cpuBefore;
    const clientCpu = holders.cpuMs() - clientBefore;
    const system = systemCpuMs(pid) - systemBefore;
    const waits = mainThreadWaits(pid) - waitsBefore;
    // Pings written: an idle server writes nothing else (one write each, the write batch aside), and on a
    // loaded machine sessions may be lost while it runs, so the count, not the sessions opened, divides.
    const pings = writeSyscalls(pid) - writesBefore;
    // The share of the CPU each kind of thread used: the main thread, V8's workers (GC), libuv's pool.
    const threads = Object.fromEntries([...threadCpuMs(pid)].map(([name, ms]) => [name, Number(((ms - (threadsBefore.get(name) ?? 0)) / cpu).toFixed(3))]));
    const seconds = (performance.now() - started) / 1_000;
    if (inspector !== undefined && profileDir !== undefined) {
      const { profile } = (await inspector.call("Profiler.stop")) as { profile: unknown };
      writeFileSync(resolve(profileDir, `idle-${pass}-${root.replaceAll("/", "_")}.cpuprofile`), JSON.stringify(profile));
      const { profile: allocations } = (await inspector.call("HeapProfiler.stopSampling")) as { profile: unknown };
      writeFileSync(resolve(profileDir, `idle-${pass}-${root.replaceAll("/", "_")}.heapprofile`), JSON.stringify(allocations));
      inspector.close();
    }
    const open = holders.sessions;
    const exchanges = (open * seconds * 1_000) / Math.min(HEARTBEAT_MS, ttlMs / 4);
    return { pass, root, open, idleS: Number(seconds.toFixed(2)), cpuPct: Number(((cpu / 10) / seconds).toFixed(2)), usPerExchange: Number(((cpu * 1_000) / exchanges).toFixed(2)), clientCpuPct: Number((clientCpu / 10 / seconds).toFixed(2)), clientUsPerExchange: Number(((clientCpu * 1_000) / exchanges).toFixed(2)), pingsPerS: Math.round(pings / seconds), usPerPing: Number(((cpu * 1_000) / pings).toFixed(2)), systemShare: Number((system / cpu).toFixed(2)), wakeupsPerS: Math.round(waits / seconds), threads, lost: await holders.stop() };
  } finally {
    await holders.stop();
    await server.child.stop();
  }
}

/**
 * `--windows=K`: every root's server at once, each with its own sessions, then K idle windows in which
 * all of them are measured together, so that each window compares the builds under the same load (on
 * a shared machine the load swings more between runs than the builds differ).
 */
async function sideBySide(repoRoot: string): Promise<void> {
  const servers: { root: string; child: Child; url: string; holders: Holders }[] = [];
  try {
    for (const root of roots) {
      const server = await startServer(root);
      const holders = new Holders({ repoRoot: clientsOfEachRoot ? root : repoRoot, config: { system: "leasehold", ttlMs, concurrency: 100 }, perHolder: 15_000, localAddresses: LOCAL_ADDRESSES, fileLimit: FILE_LIMIT });
      servers.push({ root, ...server, holders });
      await holders.start();
      await holders.grow(sessions, server.url, 300_000);
    }
    await sleep(2_000);
    for (let window = 1; window <= windows; window++) {
      const before = servers.map(({ child, holders }) => [cpuMs(child.pid), holders.cpuMs()] as const);
      const started = performance.now();
      await sleep(idleMs);
      const seconds = (performance.now() - started) / 1_000;
      for (const [index, { root, child, holders }] of servers.entries()) {
        const cpu = cpuMs(child.pid) - before[index]![0];
        const clientCpu = holders.cpuMs() - before[index]![1];
        const exchanges = (holders.sessions * seconds * 1_000) / Math.min(HEARTBEAT_MS, ttlMs / 4);
        process.stdout.write(`${JSON.stringify({ window, root, open: holders.sessions, cpuPct: Number((cpu / 10 / seconds).toFixed(2)), usPerExchange: Number(((cpu * 1_000) / exchanges).toFixed(2)), clientCpuPct: Number((clientCpu / 10 / seconds).toFixed(2)), clientUsPerExchange: Number(((clientCpu * 1_000) / exchanges).toFixed(2)) })}\n`);
      }
    }
    for (const { root, holders } of servers) process.stdout.write(`${JSON.stringify({ root, lost: await holders.stop() })}\n`);
  } finally {
    for (const { holders, child } of servers) {
      await holders.stop();
      await child.stop();
    }
  }
}

async function startServer(root: string): Promise<{ child: Child; url: string; inspectorUrl: string }> {
  const flags = ["--host", "127.0.0.1", "--port", "0", "--memory", "--max-sessions-per-principal", "10000000", "--max-leases-per-principal", "100000000", "--min-ttl", "100", "--max-new-connections-per-second", "1000000", "--log-level", "info"];
  const inspect = profileDir === undefined ? [] : ["--inspect=127.0.0.1:0"];
  const child = spawnChild({ name: "leasehold-server", command: process.execPath, args: [...inspect, resolve(root, "packages/server/dist/cli.js"), "serve", ...flags], cwd: root, fileLimit: FILE_LIMIT });
  // Node prints the inspector's address on stderr, which waitForLine does not read.
  const inspectorUrl = profileDir === undefined ? "" : await firstMatch(child, /ws:\/\/\S+/);
  const url = await waitForLine(child, (line) => (line.startsWith("{") ? /"url":"(ws:[^"]+)"/.exec(line)?.[1] : undefined), 30_000);
  drainOutput(child);
  return { child, url, inspectorUrl };
}

function firstMatch(child: Child, pattern: RegExp): Promise<string> {
  return new Promise((ok) => {
    let text = "";
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("utf8");
      const found = pattern.exec(text)?.[0];
      if (found === undefined) return;
      child.process.stderr?.off("data", onData);
      ok(found);
    };
    child.process.stderr?.on("data", onData);
  });
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => void stopAllChildren());
