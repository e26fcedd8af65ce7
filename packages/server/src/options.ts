import { DEFAULT_LIMITS, HEARTBEAT_DEFAULTS, systemClock, type Clock, type Limits } from "@leasehold/protocol";
import type { Logger } from "pino";
import type { AuthOptions } from "./auth/authenticator.js";
import type { TlsOptions } from "./reload.js";
import type { SyncMode } from "./persistence/sqlite-storage.js";
import type { Storage } from "./persistence/storage.js";
import type { ServingAuthority } from "./persistence/commit.js";
import { REFUSAL_HOLD_MS } from "./connection/refusal-hold.js";
import { DEFAULT_WATCH_OPTIONS, type WatchOptions } from "./core/shared/watches.js";

/** Defaults of the bounds on what reaches a server before anyone is known (see ServerOptions). */
export const ADMISSION_DEFAULTS = {
  maxHandshakeBytes: 8_192,
  maxHandshakeFrames: 16,
  maxNewConnectionsPerSecond: 200,
} as const;

export interface ServerOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 7070. */
  port?: number;
  /** Overrides of the announced limits (frame size, TTL range, per-session counts). */
  limits?: Partial<Limits>;
  /** Longest heartbeat interval in ms; sessions with short kept-alive leases get TTL/3. Default 5000. */
  heartbeatMs?: number;
  /** How long a silent session with no longer lease is kept for a resume, in ms. Default 10000. */
  sessionGraceMs?: number;
  /** How long a new connection may take to send `hello`, in ms. Default 10000. */
  handshakeTimeoutMs?: number;
  /**
   * Bytes a connection may send before its handshake completes, WebSocket framing included; past it
   * the connection closes with 1009. Default 8192: more than a hello with a long JWT needs.
   */
  maxHandshakeBytes?: number;
  /** WebSocket frames (fragments included) a connection may send before its handshake completes; past it, 1009. Default 16. */
  maxHandshakeFrames?: number;
  /**
   * New TCP connections accepted per remote IP address per second (a token bucket as large as one
   * second's worth); the excess is refused at once with HTTP 429 (plain TCP close under TLS). Default 200.
   */
  maxNewConnectionsPerSecond?: number;
  /**
   * How long a refusal the client can do nothing about for now (HTTP 429 past the new-connection rate,
   * 4005 at a session cap) is held before it is answered, in ms; the socket is not read meanwhile and
   * counts against its address's open connections (connection/refusal-hold.ts). Default 1000
   * (`Retry-After: 1`); 0 answers at once.
   */
  refusalHoldMs?: number;
  /** Time source; tests pass a FakeClock. */
  clock?: Clock;
  /** A pino logger; default: no logging. */
  logger?: Logger;
  /** Watch history and slow-watcher tuning (defaults: 10,000 changes or 64 MiB of history, pause above 4 MiB unsent). */
  watch?: { historyEvents?: number; historyBytes?: number; pauseBytes?: number };
  /** The browser build of the client, served at /leasehold.js; default: the server's own copy, leasehold.js beside the pages' scripts (dist/pages, built by `pnpm build`). */
  browserBundlePath?: string;
  /** The folder of the pages' built scripts (dashboard.js, demo-leader.js, page-connection.js); default: dist/pages, built by `pnpm build`. */
  pageScriptsPath?: string;
  /** Keep state in SQLite in this directory (created if absent). Absent or null: in memory only. */
  dataDir?: string | null;
  /**
   * The server-wide quota of logical bytes (keys with their values, counter names, election values):
   * a write that would grow the data past it is refused with QUOTA_EXCEEDED before it is applied. The
   * database file itself may grow to a multiple of it (see physicalDataLimit) as a last resort.
   */
  maxDataBytes?: number;
  /** When an acknowledged change is safe with `dataDir` (see SyncMode); default "full": fsynced before the reply. */
  sync?: SyncMode;
  /** Another storage backend (instead of `dataDir`). */
  storage?: Storage;
  /**
   * Checked before any frame is handled and before any commit: once it throws, the server stops
   * serving (as on a storage failure, but closing connections with 1012 so that clients resume
   * elsewhere). A cluster leader passes its election (see cluster/gateway.ts).
   */
  authority?: ServingAuthority;
  /**
   * The cluster secret: an upgrade that carries it (from a follower gateway relaying a client) may
   * name the client's real address, used for per-address limits. See auth/cluster-secret.ts.
   */
  clusterSecret?: Buffer;
  /** Authentication and permissions (static tokens, JWTs). Absent: auth off, every client may do everything. */
  auth?: AuthOptions;
  /**
   * Browser origins allowed to open a WebSocket (`https://app.example.com`; `*` for any). Absent:
   * the server's own origin and loopback pages. Upgrades without an `Origin` (non-browser clients)
   * are always allowed. A refused origin gets HTTP 403 before any WebSocket exists.
   */
  allowOrigins?: string[];
  /** Serve `wss://` and `https://` with this certificate and key (PEM), or the files holding them (read again by `reload()`). */
  tls?: TlsOptions;
  /**
   * The lock-delay of locks whose acquire gives none: how long, in ms, a lock stays ungrantable after
   * its holder's lease expired or was revoked by an admin (not after a release). Default 0.
   */
  lockDelayMs?: number;
  /**
   * Opens a second HTTP listener on this port (0 picks one) that serves only /metrics, /livez,
   * /readyz and /healthz, without authentication: for a scraper on a trusted network. Absent: none.
   */
  metricsPort?: number;
  /** Interface of the metrics listener. Default 127.0.0.1. */
  metricsHost?: string;
  /** For /readyz: whether a cluster leader is known (a cluster backend fills it in). Default: always. */
  leaderKnown?: () => boolean;
  /** A commit that takes longer than this is logged as slow, in ms. Default 250. */
  slowCommitMs?: number;
  /** An event-loop stall longer than this is logged, in ms. Default 1000. */
  stallMs?: number;
}

export interface ResolvedOptions {
  host: string;
  port: number;
  limits: Limits;
  heartbeatMs: number;
  sessionGraceMs: number;
  handshakeTimeoutMs: number;
  maxHandshakeBytes: number;
  maxHandshakeFrames: number;
  maxNewConnectionsPerSecond: number;
  refusalHoldMs: number;
  clock: Clock;
  logger: Logger | undefined;
  watch: WatchOptions;
  /** The server-wide logical byte quota, if any. */
  maxDataBytes: number | undefined;
  /** The default lock-delay of locks (see ServerOptions.lockDelayMs). */
  lockDelayMs: number;
}

export function resolveOptions(options: ServerOptions): ResolvedOptions {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) positive(`limit ${name}`, value);
  if (limits.minTtlMs > limits.maxTtlMs) throw new RangeError(`minTtlMs (${limits.minTtlMs}) exceeds maxTtlMs (${limits.maxTtlMs})`);
  return {
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 7070,
    limits,
    heartbeatMs: options.heartbeatMs ?? HEARTBEAT_DEFAULTS.heartbeatMs,
    sessionGraceMs: options.sessionGraceMs ?? 10_000,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    maxHandshakeBytes: positive("maxHandshakeBytes", options.maxHandshakeBytes ?? ADMISSION_DEFAULTS.maxHandshakeBytes),
    maxHandshakeFrames: positive("maxHandshakeFrames", options.maxHandshakeFrames ?? ADMISSION_DEFAULTS.maxHandshakeFrames),
    maxNewConnectionsPerSecond: positive("maxNewConnectionsPerSecond", options.maxNewConnectionsPerSecond ?? ADMISSION_DEFAULTS.maxNewConnectionsPerSecond),
    refusalHoldMs: nonNegative("refusalHoldMs", options.refusalHoldMs ?? REFUSAL_HOLD_MS),
    clock: options.clock ?? systemClock,
    logger: options.logger,
    maxDataBytes: options.maxDataBytes,
    lockDelayMs: nonNegative("lockDelayMs", options.lockDelayMs ?? 0),
    watch: {
      history: {
        events: options.watch?.historyEvents ?? DEFAULT_WATCH_OPTIONS.history.events,
        bytes: options.watch?.historyBytes ?? DEFAULT_WATCH_OPTIONS.history.bytes,
      },
      pauseBytes: options.watch?.pauseBytes ?? DEFAULT_WATCH_OPTIONS.pauseBytes,
      retryMs: DEFAULT_WATCH_OPTIONS.retryMs,
    },
  };
}

function nonNegative(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
