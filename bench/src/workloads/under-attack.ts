import { connect, type LeaseholdClient } from "@leasehold/client";
import { resolve } from "node:path";
import { writeFileSync } from "node:fs";
import type { AttackConfig, AttackTally } from "../attack/attacker.js";
import { spawnChild, type Child } from "../infra/children.js";
import { cpuMs, rssBytes } from "../infra/procfs.js";
import { summarize } from "../metrics/stats.js";
import { startLeasehold } from "../servers/leasehold.js";
import { tempDir } from "../servers/tempdir.js";
import type { Metrics } from "./common.js";

/** The phases of one pass, in the order they run against one fresh server. */
export const ATTACK_VARIANTS = ["quiet", "busy core (control)", "refused-frame flood", "session parking"] as const;
export type AttackVariant = (typeof ATTACK_VARIANTS)[number];

export interface UnderAttackParams {
  /** How long the bystander is timed in each phase. */
  durationMs: number;
  /** How long an attack runs before the bystander is timed (the server settles into it). */
  warmupMs: number;
  /** Connections the session-parking attacker keeps in flight. */
  parkParallel: number;
}

const TOKENS = { bystander: "bench-bystander-0123456789", attacker: "bench-attacker-0123456789" };
const RIGHTS = ["lock", "election", "read", "write", "counter", "watch"];

/**
 * One pass of the "under attack" workload: a fresh leasehold server with authentication on and two
 * tenants, a bystander tenant timing one request at a time (a counter read) while the server is
 * quiet, while the other tenant floods requests the server must refuse, and while the other tenant
 * opens and abandons sessions as fast as it can. The server is started fresh because parked
 * sessions outlive the phase (that is the attack).
 */
export async function underAttack(repoRoot: string, fileLimit: number, params: UnderAttackParams): Promise<Map<AttackVariant, Metrics>> {
  const dir = tempDir("leasehold-attack");
  const authFile = writeTenants(dir.path);
  const server = await startLeasehold(repoRoot, { kind: "memory" }, fileLimit, ["--auth-file", authFile]);
  let bystander: LeaseholdClient | undefined;
  try {
    bystander = await connect(server.url, { auth: TOKENS.bystander, agent: "@leasehold/bench bystander", autoReconnect: false });
    const results = new Map<AttackVariant, Metrics>();
    for (const variant of ATTACK_VARIANTS) {
      const attacker = variant === "quiet" ? undefined : await startAttacker(repoRoot, server.url, variant, params);
      try {
        await timeBystander(bystander, params.warmupMs);
        const cpuBefore = cpuMs(server.pid);
        const started = performance.now();
        const latencies = await timeBystander(bystander, params.durationMs);
        const elapsedMs = performance.now() - started;
        const summary = summarize(latencies);
        const metrics: Metrics = {
          p50Ms: summary.p50,
          p99Ms: summary.p99,
          maxMs: summary.max,
          answered: summary.count,
          serverCpuPct: ((cpuMs(server.pid) - cpuBefore) / elapsedMs) * 100,
          rssMiB: rssBytes(server.pid) / 1024 / 1024,
        };
        if (attacker !== undefined) Object.assign(metrics, attackFigures(await attacker.finish()));
        results.set(variant, metrics);
      } finally {
        await attacker?.child.stop();
      }
    }
    return results;
  } finally {
    await bystander?.close().catch(() => undefined);
    await server.stop();
    dir.remove();
  }
}

/** Writes the token file of the two tenants (`--auth-file`) into `dir`; returns its path. */
export function writeTenants(dir: string): string {
  const authFile = resolve(dir, "tokens.json");
  writeFileSync(
    authFile,
    JSON.stringify({
      tokens: [
        { name: "bystander", token: TOKENS.bystander, permissions: [{ prefix: "", allow: RIGHTS }] },
        { name: "attacker", token: TOKENS.attacker, permissions: [{ prefix: "attacker/", allow: RIGHTS }] },
      ],
    }),
  );
  return authFile;
}

/** Round trips of one counter read at a time for `durationMs`, sorted. */
async function timeBystander(client: LeaseholdClient, durationMs: number): Promise<Float64Array> {
  const samples: number[] = [];
  const deadline = performance.now() + durationMs;
  while (performance.now() < deadline) {
    const sent = performance.now();
    await client.counters.get("bystander");
    samples.push(performance.now() - sent);
  }
  return Float64Array.from(samples).sort();
}

export async function startAttacker(
  repoRoot: string,
  url: string,
  variant: Exclude<AttackVariant, "quiet">,
  params: UnderAttackParams,
): Promise<{ child: Child; finish(): Promise<AttackTally> }> {
  const config: AttackConfig = {
    url,
    mode: variant === "refused-frame flood" ? "refused-frames" : variant === "session parking" ? "park-sessions" : "spin",
    token: TOKENS.attacker,
    // It outlasts the warm-up and the measurement; the tally covers its whole run.
    durationMs: params.warmupMs + params.durationMs + 200,
    parallel: params.parkParallel,
  };
  const child = spawnChild({
    name: `attacker-${config.mode}`,
    command: process.execPath,
    args: ["--import", "tsx", resolve(repoRoot, "bench/src/attack/attacker.ts"), JSON.stringify(config)],
    cwd: repoRoot,
  });
  // One reader for both lines: stdout keeps flowing once read, so a second reader would miss what came between.
  let started!: () => void;
  const attacking = new Promise<void>((resolveStarted) => (started = resolveStarted));
  const tally = new Promise<AttackTally>((resolveTally, reject) => {
    let buffered = "";
    child.process.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const parsed = JSON.parse(line) as Partial<AttackTally> & { attacking?: boolean };
        if (parsed.attacking === true) started();
        else if (parsed.elapsedMs !== undefined) resolveTally(parsed as AttackTally);
      }
    });
    child.process.stderr?.resume();
    void child.exited.then((code) => reject(new Error(`attacker exited (${code}) without a tally`)));
  });
  tally.catch(() => undefined);
  await Promise.race([attacking, tally.then(() => undefined), new Promise((_, reject) => setTimeout(() => reject(new Error("attacker did not start within 30 s")), 30_000).unref())]);
  return { child, finish: () => tally };
}

function attackFigures(tally: AttackTally): Metrics {
  const seconds = tally.elapsedMs / 1000;
  const refused = Object.values(tally.refused).reduce((sum, count) => sum + count, 0);
  return {
    attackSentPerS: tally.sent / seconds,
    attackRefusedPerS: refused / seconds,
    attackParked: tally.parked,
  };
}
