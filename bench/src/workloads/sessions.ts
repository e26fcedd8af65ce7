import { setTimeout as sleep } from "node:timers/promises";
import { cpuMs, rssBytes } from "../infra/procfs.js";
import { Holders } from "../sessions/holders.js";
import type { RunningServer } from "../servers/types.js";
import type { SystemName } from "../adapters/types.js";
import type { Metrics } from "./common.js";

export interface SessionsParams {
  repoRoot: string;
  /** Session counts, measured one after another on the same fresh server (each level adds sessions). */
  levels: number[];
  ttlMs: number;
  /** Time left after growing before memory is read, for allocations to settle. */
  settleMs: number;
  /** Idle window over which CPU is read. */
  idleMs: number;
  perHolder: number;
  localAddresses: string[];
  fileLimit: number;
  /** Time allowed per session opened in one grow step (at least a minute per step). */
  growMsPerSession: number;
}

export interface SessionLevel {
  sessions: number;
  metrics: Metrics;
  /** The first error a holder met, when some sessions could not be opened. */
  note?: string;
  /** Why this level has no figures: it failed, or a lower level did. */
  skipped?: string;
}

/**
 * Idle sessions, each holding one lock under a kept-alive lease: what one costs the server in memory
 * (VmRSS growth from the fresh server's baseline, divided by the sessions) and in CPU while nothing
 * happens but keep-alives. `startServer` must start a fresh server, so that the baseline is not
 * inflated by earlier workloads' heap; it is stopped at the end.
 */
export async function sessions(system: SystemName, startServer: () => Promise<RunningServer>, params: SessionsParams): Promise<SessionLevel[]> {
  const holders = new Holders({
    repoRoot: params.repoRoot,
    config: { system, ttlMs: params.ttlMs, concurrency: 100 },
    perHolder: params.perHolder,
    // Only leasehold's client takes a local address; the others stay on 127.0.0.1 (they open fewer).
    localAddresses: system === "leasehold" ? params.localAddresses : [],
    fileLimit: params.fileLimit,
  });
  const levels: SessionLevel[] = [];
  let server: RunningServer | undefined;
  try {
    // Server and first holder start side by side: both take a second or two to load.
    const [up, holder] = await Promise.allSettled([startServer(), holders.start()]);
    if (up.status === "fulfilled") server = up.value;
    if (up.status === "rejected") throw up.reason;
    if (holder.status === "rejected") throw holder.reason;
    const { pid, url } = up.value;
    await sleep(Math.min(1_000, params.settleMs));
    const baseline = rssBytes(pid);
    let before = 0;
    for (const [index, target] of params.levels.entries()) {
      const growStarted = performance.now();
      try {
        await holders.grow(target, url, Math.max(60_000, (target - before) * params.growMsPerSession));
      } catch (error) {
        // Keep what the lower levels measured; this level and the ones above it have no figures.
        const reason = error instanceof Error ? error.message.split("\n")[0] ?? error.message : String(error);
        levels.push({ sessions: target, metrics: {}, skipped: `failed: ${reason}` });
        for (const higher of params.levels.slice(index + 1)) levels.push({ sessions: higher, metrics: {}, skipped: "not reached: a lower level failed" });
        break;
      }
      const growS = (performance.now() - growStarted) / 1000;
      await sleep(params.settleMs);
      const rss = rssBytes(pid);
      const open = holders.sessions;
      const serverStart = cpuMs(pid);
      const clientStart = holders.cpuMs();
      const idleStarted = performance.now();
      await sleep(params.idleMs);
      const idleS = (performance.now() - idleStarted) / 1000;
      const serverCpuMs = cpuMs(pid) - serverStart;
      const clientCpuMs = holders.cpuMs() - clientStart;
      levels.push({
        sessions: target,
        metrics: {
          sessionsOpen: open,
          sessionsFailed: holders.failures,
          baselineRssMiB: baseline / 2 ** 20,
          rssMiB: rss / 2 ** 20,
          bytesPerSession: open > 0 ? (rss - baseline) / open : Number.NaN,
          idleServerCpuPct: (serverCpuMs / 10 / idleS),
          idleClientCpuPct: (clientCpuMs / 10 / idleS),
          serverCpuUsPerSessionS: open > 0 ? (serverCpuMs * 1000) / open / idleS : Number.NaN,
          openPerS: (open - before) / growS,
        },
        ...(holders.firstError !== undefined && { note: holders.firstError }),
      });
      before = open;
      if (open < target) {
        for (const higher of params.levels.slice(index + 1)) levels.push({ sessions: higher, metrics: {}, skipped: "not reached: sessions failed to open at a lower level" });
        break;
      }
    }
    // Every lock is released before the server stops: those found gone were lost while idle. The
    // count covers every session opened, so it goes with the highest level measured.
    const lost = await holders.stop();
    const top = levels.filter((level) => level.skipped === undefined).at(-1);
    if (top !== undefined && lost !== undefined) top.metrics.lostLocks = lost;
    return levels;
  } finally {
    await holders.stop();
    await server?.stop();
  }
}
