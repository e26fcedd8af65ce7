import { randomBytes } from "node:crypto";
import type { WireMap } from "../wire/codec.js";

/** The limits a scripted server announces: the spec's defaults (PROTOCOL.md section 14). */
const ANNOUNCED_LIMITS = {
  maxFrameBytes: 65_536,
  minTtlMs: 1_000,
  maxTtlMs: 86_400_000,
  maxWaitMs: 86_400_000,
  maxSessions: 100_000,
  maxLeasesPerSession: 1_000,
  maxWaitersPerLock: 100_000,
  maxLocksPerSession: 10_000,
  maxWatchesPerSession: 100,
} as const;

/**
 * What the scripted server remembers of the one session a scenario plays: its id and secret (which
 * a resume must send back), the heartbeat counters (section 5) and the highest request id the kit
 * admits to having received (`resync.lastRequest`, section 7).
 */
export class ScriptedSession {
  readonly id = randomBytes(12).toString("base64url");
  readonly secret = randomBytes(18).toString("base64url");
  lastPingSeq = 0;
  /** The latest pong seq heard: the next ping's `ack`. */
  ackedSeq = 0;
  /** Arrival of the pong that the latest ping sent acknowledged: the client's `heardAt` is at most this. */
  ackedAt = 0;
  readonly pongArrivals = new Map<number, number>();
  /** Requests must carry ids above this one (section 3); a resume may set it back to what the kit admits. */
  highestRequest = 0;

  /** A `welcome`; `baseHeartbeatMs` is announced as `baseHeartbeat` when given (servers before it sent none, section 5). */
  welcome(heartbeatMs: number, resync?: Resync, baseHeartbeatMs?: number): WireMap {
    const frame: WireMap = {
      type: "welcome",
      version: 1,
      session: this.id,
      secret: this.secret,
      resumed: resync !== undefined,
      heartbeat: heartbeatMs,
      limits: { ...ANNOUNCED_LIMITS },
    };
    if (resync !== undefined) frame.resync = resync;
    if (baseHeartbeatMs !== undefined) frame.baseHeartbeat = baseHeartbeatMs;
    return frame;
  }
}

/** `welcome.resync` (section 7); a type rather than an interface, so that it is a WireMap. */
export type Resync = {
  lastRequest: number;
  leases: Array<{ lease: number; ttl: number; keepAlive: boolean }>;
  holds: Array<{ request: number; name: string; lease: number; token: number }>;
  waits: Array<{ request: number; name: string; lease: number }>;
};

export function reply(id: number, result: WireMap): WireMap {
  return { type: "reply", id, result };
}

export function errorFrame(code: string, message: string, id?: number): WireMap {
  return id === undefined ? { type: "error", code, message } : { type: "error", id, code, message };
}
