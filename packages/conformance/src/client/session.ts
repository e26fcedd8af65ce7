import { randomBytes } from "node:crypto";
import { ANNOUNCED_LIMITS, type Frame } from "./wire.js";

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

  welcome(heartbeatMs: number, resync?: Resync): Frame {
    const frame: Frame = {
      type: "welcome",
      version: 1,
      session: this.id,
      secret: this.secret,
      resumed: resync !== undefined,
      heartbeat: heartbeatMs,
      limits: { ...ANNOUNCED_LIMITS },
    };
    if (resync !== undefined) frame.resync = resync;
    return frame;
  }
}

/** `welcome.resync` (section 7). */
export interface Resync {
  lastRequest: number;
  leases: Array<{ lease: number; ttl: number; keepAlive: boolean }>;
  holds: Array<{ request: number; name: string; lease: number; token: number }>;
  waits: Array<{ request: number; name: string; lease: number }>;
}

export function reply(id: number, result: Frame): Frame {
  return { type: "reply", id, result };
}

export function errorFrame(code: string, message: string, id?: number): Frame {
  return id === undefined ? { type: "error", code, message } : { type: "error", id, code, message };
}
