/**
 * The small-limits profile: start the server under test with these flags (our CLI's; another server
 * sets the same limits its own way) and pass `--profile small-limits`. Limits and quotas are then
 * reachable with a few dozen frames, so checking them never means flooding a production-sized server.
 * The per-principal counts are per IP address with authentication off, so every session of the kit
 * shares them: they leave room for the sessions and leases of the other scenarios.
 */
export const SMALL_LIMITS = {
  maxSessionsPerPrincipal: 60,
  maxLeasesPerPrincipal: 60,
  maxKeysPerPrincipal: 120,
  maxCountersPerPrincipal: 60,
  maxBytesPerPrincipal: 262_144,
  maxRequestsPerSecond: 200,
  requestBurst: 200,
} as const;

/** The same limits as flags of `leasehold serve`. */
export const SMALL_LIMITS_FLAGS: readonly string[] = [
  "--max-sessions-per-principal", String(SMALL_LIMITS.maxSessionsPerPrincipal),
  "--max-leases-per-principal", String(SMALL_LIMITS.maxLeasesPerPrincipal),
  "--max-keys-per-principal", String(SMALL_LIMITS.maxKeysPerPrincipal),
  "--max-counters-per-principal", String(SMALL_LIMITS.maxCountersPerPrincipal),
  "--max-bytes-per-principal", String(SMALL_LIMITS.maxBytesPerPrincipal),
  "--max-requests-per-second", String(SMALL_LIMITS.maxRequestsPerSecond),
  "--request-burst", String(SMALL_LIMITS.requestBurst),
  "--min-ttl", "100",
];
