import type { ResultOf } from "@leasehold/protocol";
import type { Coordinator } from "./coordinator.js";

/** Everything the coordinator holds, as plain data of the protocol's types: what `admin.state` answers. */
export type Inspection = ResultOf<"admin.state">;

/**
 * A read-only picture of the coordinator: sessions (with their account and open subscriptions), leases
 * with the time they have left, every lock, semaphore and election with its holders and its queue in
 * order, and how many keys, counters and changes of watch history it keeps. Admins get it over the wire
 * (`admin.state`); tests read it instead of the coordinator's own maps, so that the same checks can
 * later run against a server in another process, or a cluster, through `client.admin.state()`.
 */
export function inspect(coordinator: Coordinator): Inspection {
  const now = coordinator.now;
  const tables = [coordinator.locks, coordinator.elections];
  return {
    now: Math.round(now),
    revision: coordinator.revision,
    sessions: [...coordinator.sessions.values()].map((session) => ({
      session: session.id,
      address: session.address,
      agent: session.agent,
      connected: session.outlet !== null,
      ageMs: Math.round(now - session.createdAt),
      account: session.account.key,
      subscriptions: session.subscriptions.size,
    })),
    leases: [...coordinator.leases.values()].map((lease) => ({
      lease: lease.id,
      session: lease.session.id,
      ttl: lease.ttl,
      remaining: Math.max(0, Math.round(coordinator.deadline(lease) - now)),
      keepAlive: lease.keepAlive,
      keys: lease.keys.size,
    })),
    locks: tables.flatMap((table) =>
      [...table.entries()].map((entry) => ({
        name: entry.name,
        kind: entry.kind,
        limit: entry.kind === "semaphore" ? entry.limit : undefined,
        holders: [...entry.holders.values()].map((hold) => ({ session: hold.lease.session.id, lease: hold.lease.id, token: hold.token, mode: hold.mode })),
        waiters: [...entry.queue].map((waiter) => ({ session: waiter.lease.session.id, lease: waiter.lease.id, mode: waiter.mode })),
      })),
    ),
    keys: coordinator.shared.kv.size,
    counters: coordinator.shared.counters.size,
    history: coordinator.shared.watches.history.size,
  };
}
