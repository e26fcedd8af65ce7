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
  | { ready: number; failed: number; ms: number; firstError?: string }
  /** `lost`: locks whose release found them gone (the session lost its lease while idle). */
  | { closed: true; lost: number }
  | { error: string };

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
