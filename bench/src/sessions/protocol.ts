import type { SystemName } from "../adapters/types.js";

/** How the harness and a session-holder process talk: one JSON object per line each way. */

export interface HolderConfig {
  system: SystemName;
  ttlMs: number;
  /** Local addresses for client sockets, used round-robin (only systems that support it). */
  localAddresses: string[];
  /** Sessions opened at once while growing. */
  concurrency: number;
  /** Distinguishes lock names of different holders. */
  holderId: number;
}

/** Harness to holder. The server's URL comes with the first grow, so a holder can start before its server. */
export type HolderCommand = { grow: number; url: string } | { stop: true };

/** Holder to harness; a holder announces itself with `{ ready: 0 }` once loaded. */
export type HolderReport =
  | ({ ready: number; failed: number; ms: number; firstError?: string } & Partial<HolderStalls>)
  /**
   * `lost`: locks whose release found them gone (the session lost its lease while idle); `lostBy`: those
   * the client saw go before the release, by reason, the first and last at `firstLossMs`/`lastLossMs`
   * after the holder started.
   */
  | ({ closed: true; lost: number; lostBy?: Record<string, number>; firstLossMs?: number; lastLossMs?: number } & Partial<HolderStalls>)
  | { error: string };

/** The holder's own event-loop delay since it started (monitorEventLoopDelay, 20 ms resolution). */
export interface HolderStalls {
  maxLagMs: number;
  p99LagMs: number;
  /** Stalls over 2 s: when (ms after the holder started), how long, and how many sessions it held then. */
  longStalls?: { atMs: number; ms: number; open: number }[];
}

export function parseReport(line: string): HolderReport | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(line) as Record<string, unknown>;
    if (typeof value.ready === "number" || value.closed === true || typeof value.error === "string") return value as HolderReport;
  } catch {
    // a stray line from a library: not ours
  }
  return undefined;
}
