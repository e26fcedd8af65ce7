/**
 * The heartbeat rule, in one place because both ends compute it: the server to schedule its pings,
 * the client to know how long a silence means a dead link (PROTOCOL.md section 5).
 */

/** Server heartbeat defaults, in ms. */
export const HEARTBEAT_DEFAULTS = {
  /** The longest interval a server uses unless configured otherwise (`--heartbeat`). */
  heartbeatMs: 5_000,
  /** Smallest interval ever used, so that very short TTLs cannot turn heartbeats into a flood. */
  minHeartbeatMs: 50,
} as const;

/**
 * The heartbeat interval of a session, in ms: a third of the TTL of its shortest kept-alive lease, at
 * most `longestMs`, and never below `HEARTBEAT_DEFAULTS.minHeartbeatMs`. A third, because the client's
 * own deadline counts from the send time of its last acknowledged pong, which is one to two intervals
 * old (a ping acknowledges the previous pong, PROTOCOL.md section 6): a third of the TTL is then left.
 *
 * `longestMs` is the session's interval without leases: on the server, its configured interval capped
 * at a third of the session grace; on the client, the `heartbeat` of a new session's `welcome`, which
 * announces that same number.
 */
export function heartbeatInterval(longestMs: number, keptAliveTtlsMs: Iterable<number>): number {
  let interval = longestMs;
  for (const ttl of keptAliveTtlsMs) interval = Math.min(interval, Math.floor(ttl / 3));
  return Math.max(HEARTBEAT_DEFAULTS.minHeartbeatMs, interval);
}

