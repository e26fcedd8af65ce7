import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { drainOutput, spawnChild, stopAllChildren, waitForLine } from "./infra/children.js";
import { cpuMs } from "./infra/procfs.js";
import { tempDir } from "./servers/tempdir.js";
import { startAttacker, writeTenants } from "./workloads/under-attack.js";
import { toolArgs } from "./infra/args.js";

/**
 * The server's CPU per attacker frame or connection attempt, old build against new, alternating
 * (issue 16's "under attack" rows, whose bystander p99 is the machine's under load, measured apart):
 *
 *   node --import tsx bench/src/attack-ab.ts --clis=OLD/cli.js,NEW/cli.js [--mode=refused-frames|park-sessions]
 *     [--passes=3] [--warmup-ms=1000] [--ms=4000] [--parallel=16] [--server-flags="..."]
 *
 * Each pass and build: a fresh `serve --memory` with the under-attack row's tenants and the default
 * limits, the row's attacker (this checkout's) for the warm-up and the window, and the server's
 * utime + stime from /proc over the window. Prints one JSON line per run: the server's CPU (% of a
 * core), the attacker's tally, and µs of server CPU per frame answered or per connection attempt.
 */

const args = toolArgs();
const clis = (args.get("clis") ?? "packages/server/dist/cli.js").split(",").map((cli) => resolve(cli));
const mode = args.get("mode") === "park-sessions" ? "session parking" : "refused-frame flood";
const passes = Number(args.get("passes") ?? 3);
const warmupMs = Number(args.get("warmup-ms") ?? 1_000);
const windowMs = Number(args.get("ms") ?? 4_000);
const parallel = Number(args.get("parallel") ?? 16);
const serverFlags = (args.get("server-flags") ?? "").split(" ").filter((flag) => flag !== "");

async function main(): Promise<void> {
  const repoRoot = resolve(".");
  for (let pass = 1; pass <= passes; pass++) {
    const order = pass % 2 === 1 ? clis : [...clis].reverse();
    for (const cli of order) process.stdout.write(`${JSON.stringify({ pass, cli, ...(await measure(repoRoot, cli)) })}\n`);
  }
}

async function measure(repoRoot: string, cli: string): Promise<Record<string, unknown>> {
  const dir = tempDir("leasehold-attack-ab");
  const authFile = writeTenants(dir.path);
  const server = spawnChild({
    name: "leasehold-server",
    command: process.execPath,
    args: [cli, "serve", "--host", "127.0.0.1", "--port", "0", "--memory", "--auth-file", authFile, "--log-level", "info", ...serverFlags],
    cwd: repoRoot,
    fileLimit: 20_000,
  });
  try {
    const url = await waitForLine(server, (line) => /"url":"(ws[^"]+)"/.exec(line)?.[1], 30_000);
    drainOutput(server);
    const attacker = await startAttacker(repoRoot, url, mode, { warmupMs, durationMs: windowMs, parkParallel: parallel });
    await sleep(warmupMs);
    const before = cpuMs(server.pid);
    const started = performance.now();
    await sleep(windowMs);
    const serverMs = cpuMs(server.pid) - before;
    const elapsedMs = performance.now() - started;
    const tally = await attacker.finish();
    await attacker.child.stop();
    // The tally covers the attacker's whole run (warm-up included): rates per second of it.
    const seconds = tally.elapsedMs / 1000;
    const refused = Object.values(tally.refused).reduce((sum, count) => sum + count, 0);
    const attempts = Object.values(tally.closes).reduce((sum, count) => sum + count, 0);
    const perSecond = mode === "session parking" ? attempts / seconds : refused / seconds;
    return {
      serverCpuPct: Math.round((serverMs / elapsedMs) * 1000) / 10,
      perSecond: Math.round(perSecond),
      usEach: Math.round(((serverMs / elapsedMs) * 1_000_000) / perSecond) / 1000,
      sentPerS: Math.round(tally.sent / seconds),
      refused: tally.refused,
      closes: tally.closes,
      parked: tally.parked,
    };
  } finally {
    await server.stop();
    dir.remove();
  }
}

await main().finally(() => stopAllChildren());
