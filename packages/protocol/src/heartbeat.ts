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
 * How many pings a kept-alive lease's TTL holds. The client's own deadline counts from the send time of
 * its last acknowledged pong, which is one to two intervals old (a ping acknowledges the previous pong,
 * PROTOCOL.md section 6), so a ping may come `TTL - 2 x interval - margin` late before a healthy client
 * gives its lease up: a third of the TTL left only `T/3 - margin` (425 ms for 1.5 s), which the
 * conformance kit showed one late ping on a busy machine can take; a quarter leaves `T/2 - margin`
 * (675 ms for 1.5 s). The cost, measured with 300 sessions each holding a 1.2 s lease (server and
 * clients in one process, 2 cores at a load of 31): 962 pings a second against 740 (+30%), 81-88 ms of
 * CPU a second against 57-71; 43 bytes a ping and pong with their WebSocket headers. Only sessions whose
 * shortest kept-alive TTL is under 4 x the base interval (13.3 s by default) pay it.
 */
export const PINGS_PER_TTL = 4;

/**
 * The heartbeat interval of a session, in ms: a quarter of the TTL of its shortest kept-alive lease
 * (`PINGS_PER_TTL`), at most `longestMs`, and never below `HEARTBEAT_DEFAULTS.minHeartbeatMs`.
 *
 * `longestMs` is the session's interval without leases: on the server, its configured interval capped
 * at a third of the session grace; on the client, the `baseHeartbeat` of the latest `welcome` (from an
 * older server without it, the `heartbeat` of a new session's welcome, which is that same number).
 */
export function heartbeatInterval(longestMs: number, keptAliveTtlsMs: Iterable<number>): number {
  let shortest = Number.POSITIVE_INFINITY;
  for (const ttl of keptAliveTtlsMs) shortest = Math.min(shortest, ttl);
  return heartbeatIntervalOfShortest(longestMs, shortest);
}

/**
 * `heartbeatInterval` given only the shortest kept-alive TTL (+Infinity: none), for a caller that finds it
 * without building a list: the server computes it for every ping it sends (floor is monotonic, so a
 * quarter of the shortest TTL is the shortest of the quarters).
 */
export function heartbeatIntervalOfShortest(longestMs: number, shortestTtlMs: number): number {
  return Math.max(HEARTBEAT_DEFAULTS.minHeartbeatMs, Math.min(longestMs, Math.floor(shortestTtlMs / PINGS_PER_TTL)));
}

