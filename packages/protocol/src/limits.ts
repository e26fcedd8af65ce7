/**
 * Hard bounds that every message is checked against before a server looks at it. A server's own
 * configured limits (see `DEFAULT_LIMITS`) are tighter and are announced in `welcome.limits`.
 */
export const BOUNDS = {
  /** Largest delay a JavaScript timer can hold (2^31 - 1 ms, about 24.8 days). TTLs and waits stay under it. */
  maxDelayMs: 2_147_483_647,
  /** Longest lock name, key, counter name, election name or prefix, in UTF-16 code units. */
  maxNameLength: 512,
  /** Deepest nesting of arrays and maps in a stored value (a key's value, a candidate's value). */
  maxValueDepth: 64,
  /**
   * Deepest nesting of arrays and maps in a whole frame, checked before decoding; deeper is fatal (close
   * 4000). Above `maxValueDepth` by enough for the messages that carry a stored value (a watch event or
   * an `admin.state` entry puts it some 6 levels down), so that a value nested 65 deep is still the
   * ordinary, non-fatal BAD_REQUEST of the value rule, and low enough that msgpackr's recursion stays
   * far from the stack limit (thousands of levels).
   */
  maxFrameDepth: 100,
  /**
   * Most values (scalars, strings, arrays and maps, map keys included) in one frame, checked before
   * decoding; more is fatal (close 4000). Every value takes at least one byte once extension types
   * are refused, so a frame within `maxFrameBytes` stays far below it; the bound is for the other
   * direction, where a server's replies have no size limit: `admin.state` of 100,000 sessions and as
   * many leases is about 2.2 million values (11 per entry), and 2^24 leaves room for seven times that.
   */
  maxFrameNodes: 16_777_216,
} as const;

/** The limits a server enforces unless configured otherwise. All are announced to clients in `welcome.limits`. */
export const DEFAULT_LIMITS = {
  /** Largest WebSocket frame the server accepts, in bytes; a larger one closes the connection with 1009. */
  maxFrameBytes: 64 * 1024,
  /** Shortest lease TTL accepted, in ms. */
  minTtlMs: 1_000,
  /** Longest lease TTL accepted, in ms (one day). */
  maxTtlMs: 86_400_000,
  /** Longest finite wait for a lock or an election, in ms (one day); `wait: true` waits without limit. */
  maxWaitMs: 86_400_000,
  /** Live sessions on one server, detached ones included. The last `adminReservedSessions` of them only admins may open. */
  maxSessions: 100_000,
  /**
   * Sessions of `maxSessions` that only admin principals (the admin right over every name) may use, so that an
   * operator can always get in. At most a tenth of `maxSessions` is reserved.
   */
  adminReservedSessions: 100,
  /** Sessions one principal holds at once, detached ones included (per remote IP address when authentication is off). */
  maxSessionsPerPrincipal: 1_000,
  /** Live leases of one principal, across its sessions. */
  maxLeasesPerPrincipal: 10_000,
  /** Keys one principal wrote last that still exist (overwriting a key makes the writer its owner). */
  maxKeysPerPrincipal: 10_000,
  /** Non-zero counters one principal created (a counter back at 0 is forgotten and counts no more). */
  maxCountersPerPrincipal: 10_000,
  /** Logical bytes one principal stores: keys with their msgpack values, counter names (+8), election candidates' values. */
  maxBytesPerPrincipal: 64 * 1024 * 1024,
  /** Live leases per session. */
  maxLeasesPerSession: 1_000,
  /** Queued waiters per lock, semaphore or election. */
  maxWaitersPerLock: 100_000,
  /** Locks, semaphore slots and election seats held or awaited per session. */
  maxLocksPerSession: 10_000,
  /** Open watches and observers per session. */
  maxWatchesPerSession: 100,
  /** Open connections (each carries at most one session) from one remote IP address, handshakes included. */
  maxConnectionsPerAddress: 10_000,
  /** Requests per second one session may sustain (a token bucket); the excess is answered RATE_LIMITED. */
  maxRequestsPerSecond: 50_000,
  /** Requests one session may send at once above the sustained rate (the bucket's size). */
  requestBurst: 50_000,
  /** Unsent bytes on one connection before it is cut off as a slow consumer (close 4006). */
  maxBacklogBytes: 8 * 1024 * 1024,
} as const;
export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

/**
 * The margin a client subtracts from a lease's deadline when it decides, on its own clock, that the
 * lease may be gone. It covers clock-rate differences and timer jitter between client and server.
 */
export function clientSafetyMarginMs(ttlMs: number): number {
  return Math.min(1_000, Math.max(20, Math.round(ttlMs * 0.05)));
}
