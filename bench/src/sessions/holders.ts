import { resolve } from "node:path";
import { spawnChild, waitForLine, type Child } from "../infra/children.js";
import { cpuMs } from "../infra/procfs.js";
import { profilingFlags } from "../infra/profiling.js";
import { parseReport, type HolderConfig, type HolderReport } from "./protocol.js";

export interface HolderOptions {
  repoRoot: string;
  config: Omit<HolderConfig, "holderId" | "localAddresses">;
  /** Most sessions one holder process opens (its file limit bounds it). */
  perHolder: number;
  /** Local addresses to spread client sockets over; each holder gets its own slice. */
  localAddresses: string[];
  fileLimit: number;
}

const ADDRESSES_PER_HOLDER = 4;

/** A set of session-holder processes, grown together to a total number of sessions. */
export class Holders {
  private readonly children: { child: Child; sessions: number; failed: number }[] = [];
  firstError: string | undefined;
  /** What each holder said last (its growth, then its close): losses by reason, its own stalls. */
  readonly reports: HolderReport[] = [];

  constructor(private readonly options: HolderOptions) {}

  get pids(): number[] {
    return this.children.map(({ child }) => child.pid);
  }

  get sessions(): number {
    return this.children.reduce((sum, { sessions }) => sum + sessions, 0);
  }

  get failures(): number {
    return this.children.reduce((sum, { failed }) => sum + failed, 0);
  }

  /** CPU ms used so far by every holder. */
  cpuMs(): number {
    return this.pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  }

  /** Starts the first holder and waits until it has loaded, so that its start-up is not timed as growth. */
  async start(): Promise<void> {
    await this.addHolders(1);
  }

  /**
   * Opens sessions until `total` are open (or failures stop a holder); holders grow in parallel.
   * Given several URLs, holder i connects to `urls[i % urls.length]` (one gateway each, say).
   */
  async grow(total: number, urls: string | readonly string[], timeoutMs: number): Promise<void> {
    await this.addHolders(Math.ceil(total / this.options.perHolder));
    let remaining = total;
    const all = typeof urls === "string" ? [urls] : urls;
    await Promise.all(
      this.children.map(async (entry, index) => {
        const url = all[index % all.length] as string;
        const target = Math.min(this.options.perHolder, remaining);
        remaining -= target;
        if (target <= entry.sessions) return;
        const report = await this.send(entry.child, { grow: target, url }, timeoutMs);
        if ("error" in report) throw new Error(`session holder: ${report.error}`);
        if (!("ready" in report)) throw new Error("session holder: unexpected report");
        this.reports.push(report);
        entry.sessions = report.ready;
        entry.failed = report.failed;
        this.firstError ??= report.firstError;
      }),
    );
  }

  /** Releases every lock, closes every session and stops the holders; returns the locks found lost (undefined if a holder did not say). */
  async stop(): Promise<number | undefined> {
    const lost = await Promise.all(
      this.children.map(async ({ child }) => {
        const closed = waitForLine(child, parseReport, 40_000).catch(() => undefined);
        child.process.stdin?.end(`${JSON.stringify({ stop: true })}\n`);
        const report = await closed;
        await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 40_000))]);
        await child.stop();
        if (report !== undefined) this.reports.push(report);
        return report !== undefined && "closed" in report ? report.lost : undefined;
      }),
    );
    this.children.length = 0;
    return lost.some((count) => count === undefined) ? undefined : lost.reduce<number>((sum, count) => sum + (count ?? 0), 0);
  }

  private async addHolders(count: number): Promise<void> {
    const added: Child[] = [];
    while (this.children.length < count) {
      const child = this.spawn(this.children.length);
      this.children.push({ child, sessions: 0, failed: 0 });
      added.push(child);
    }
    await Promise.all(added.map((child) => waitForLine(child, parseReport, 60_000)));
  }

  private spawn(holderId: number): Child {
    const { repoRoot, config, localAddresses, fileLimit } = this.options;
    // Each holder binds to addresses of its own, round-robin, so that no two holders compete for
    // one address's ~28k ephemeral ports and no address carries more than a quarter of a holder's
    // sessions (leasehold refuses more than 10,000 connections from one address by default).
    const mine = Array.from({ length: ADDRESSES_PER_HOLDER }, (_, index) => localAddresses[(holderId * ADDRESSES_PER_HOLDER + index) % localAddresses.length]);
    const addresses = localAddresses.length === 0 ? [] : mine.filter((address): address is string => address !== undefined);
    const full: HolderConfig = { ...config, holderId, localAddresses: [...new Set(addresses)] };
    return spawnChild({
      name: `session-holder-${holderId}`,
      command: process.execPath,
      args: ["--max-old-space-size=8192", ...profilingFlags(), "--import", "tsx", resolve(repoRoot, "bench/src/sessions/holder.ts"), JSON.stringify(full)],
      cwd: repoRoot,
      fileLimit,
      stdin: true,
    });
  }

  private send(child: Child, command: object, timeoutMs: number): Promise<HolderReport> {
    const reply = waitForLine(child, parseReport, timeoutMs);
    child.process.stdin?.write(`${JSON.stringify(command)}\n`);
    return reply;
  }
}
