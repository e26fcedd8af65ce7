import { emptyBatch, type Batch, type Storage, type StoredState } from "./storage.js";

/**
 * Replaces everything `storage` holds (`current`, as its `load` gave it) by `state` (`leasehold restore`, `import`) in one batch, all or
 * nothing, with the store's revision raised to the token floor; returns that floor. Every token and
 * revision the server hands out afterwards is above it, because a server goes on from the stored
 * revision (core/fencing.ts, `Revisions.continueFrom`); the floor is the stored revision itself, so it
 * stays with the data through every restart, snapshot and later backup.
 *
 * The caller holds the store alone (SQLite's directory lock; in etcd, the election).
 */
export async function restoreInto(storage: Storage, current: StoredState, state: StoredState, wallNowMs: number): Promise<number> {
  const floor = tokenFloor(state.revision, current.revision, wallNowMs);
  await storage.write(replacing(current, state, floor));
  return floor;
}

/**
 * The revision a restored store goes on from. Tokens handed out after the backup was taken are not in
 * it (an older backup, or a disk lost since), so the floor must not depend on them:
 *
 *   floor = max(backup's revision, the target's own revision, wall-clock time of the restore in µs)
 *
 * The time term rests on one invariant: **every token a store hands out is below the wall-clock time
 * (in µs) at which it is handed out.** A new store starts at revision 0, below any time since 1970,
 * and adds one per token; a restored store starts at the time of its restore (the backup's revision is
 * itself below the time the backup was taken, by the same invariant) and adds one per token. Either
 * way the counter stays below the clock as long as fewer than one token per microsecond is handed out
 * on average since the store's start or last restore: a million a second, where one server grants
 * tens of thousands (BENCHMARKS.md). So the time of a restore exceeds every token handed out before
 * it, whoever handed it out and whatever the backup holds.
 *
 * Its assumptions, stated in README.md (Backup and restore): that rate, and a clock on the restoring
 * machine not behind the clocks of the machines that issued the tokens by more than the slack the rate
 * leaves (at 10,000 tokens/s, 0.99 s per second since the previous start or restore). The target's own
 * revision is kept as a floor too: restoring over the newest data (`--force` on the same directory or
 * prefix) is then safe whatever the clocks say.
 *
 * Tokens jump: the first token after a restore is about 1.8e15 (2026 in µs), within JavaScript's safe
 * integers (9.007e15, reached in the year 2255) and sent as msgpack uint64, which the protocol accepts.
 */
export function tokenFloor(backupRevision: number, targetRevision: number, wallNowMs: number): number {
  return Math.max(backupRevision, targetRevision, Math.floor(wallNowMs * 1_000));
}

/**
 * One batch that deletes every row of `current` not in `next` and writes every row of `next`. A
 * session kept under the same id keeps its stored secret (the stores change only `lastRequest` of an
 * existing session): ids are random, so the same id is the same session.
 */
function replacing(current: StoredState, next: StoredState, revision: number): Batch {
  const batch = emptyBatch();
  batch.revision = revision;
  // Lease ids handed out after an older backup are not reused either.
  batch.nextLeaseId = Math.max(next.nextLeaseId, current.nextLeaseId);
  for (const row of current.sessions) batch.sessions.set(row.id, null);
  for (const row of current.leases) batch.leases.set(row.id, null);
  for (const row of current.holds) batch.holds.set(`${row.table}:${row.token}`, null);
  for (const row of current.waits) batch.waits.set(`${row.session}:${row.request}`, null);
  for (const row of current.keys) batch.keys.set(row.key, null);
  for (const row of current.counters) batch.counters.set(row.name, null);
  for (const row of next.sessions) batch.sessions.set(row.id, row);
  for (const row of next.leases) batch.leases.set(row.id, row);
  for (const row of next.holds) batch.holds.set(`${row.table}:${row.token}`, row);
  for (const row of next.waits) batch.waits.set(`${row.session}:${row.request}`, row);
  for (const row of next.keys) batch.keys.set(row.key, row);
  for (const row of next.counters) batch.counters.set(row.name, row);
  return batch;
}
