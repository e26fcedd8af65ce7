import { LEGACY_ACCOUNT } from "../core/accounts.js";
import type { Coordinator } from "../core/coordinator.js";
import { Lease, Session } from "../core/model.js";
import type { StoredState } from "./storage.js";

/**
 * Loads stored state into a fresh coordinator at start. Every lease gets a fresh full TTL from now
 * (as etcd does on a leader change): a client that reconnects within it resumes with its leases,
 * locks, queue places and tokens; one that does not come back expires as usual. Revisions and tokens
 * go on from where they were.
 */
export function restore(coordinator: Coordinator, state: StoredState): void {
  coordinator.continueFrom(state);
  const { accounts, sessions, leases, shared } = coordinator;
  const now = coordinator.now;
  for (const row of state.sessions) {
    const account = accounts.open(row.account ?? LEGACY_ACCOUNT);
    accounts.add(account, "sessions");
    const session = new Session(row.id, row.secret, now, "(restored, not yet reconnected)", row.agent, account, row.principal, row.createdAt);
    session.lastRequest = row.lastRequest;
    sessions.set(session.id, session);
  }
  for (const row of state.leases) {
    const session = sessions.get(row.session);
    if (!session) continue;
    const lease = new Lease(row.id, row.ttl, row.keepAlive, session, now);
    accounts.add(session.account, "leases");
    session.leases.set(lease.id, lease);
    leases.set(lease.id, lease);
  }
  const wallNow = coordinator.options.clock.wallNow();
  for (const row of state.holds) {
    const table = coordinator.table(row.table);
    // The row of a hold lost with a lock-delay: the delay runs on for what is left of it by the wall clock.
    if (row.delayUntil !== undefined) {
      table.restoreDelay(row.name, row.limit, row.mode, row.token, row.delayUntil - wallNow);
      continue;
    }
    const lease = leases.get(row.lease);
    if (lease) table.restoreHold(row.name, row.limit, lease, row.token, row.mode, row.request, row.value, row.lockDelay);
  }
  for (const row of state.waits) {
    const lease = leases.get(row.lease);
    if (!lease) continue;
    const table = coordinator.table(row.table);
    const waiter = table.restoreWaiter(row.name, row.limit, lease, row.mode, row.request, row.value, row.seq, row.expiresAt, row.lockDelay);
    // A wait that ran out while the server was down answers "not acquired" at once.
    if (row.expiresAt !== undefined) coordinator.startWaitTimer(table, waiter, Math.max(0, row.expiresAt - wallNow));
  }
  for (const row of state.keys) {
    const lease = row.lease === undefined ? undefined : leases.get(row.lease);
    if (row.lease !== undefined && !lease) continue;
    shared.restoreKey(row.key, row.value, row.revision, lease, accounts.open(row.owner ?? LEGACY_ACCOUNT));
  }
  for (const counter of state.counters) shared.restoreCounter(counter.name, counter.value, accounts.open(counter.owner ?? LEGACY_ACCOUNT));
  coordinator.startRestored();
}
