import { ErrorCode, type Request, type ResultOf } from "@leasehold/protocol";
import type { Coordinator } from "../core/coordinator.js";
import { dispatchShared } from "./dispatch-shared.js";
import { Right } from "../auth/permissions.js";
import { ServerError } from "../errors.js";
import type { Session } from "../core/model.js";

/** Result of a request: answered now, or later by whoever settles it (a queued wait). */
export type Handled = { now: object } | "later";

/** What a request handler may ask of the connection it came from. */
export interface RequestContext {
  coordinator: Coordinator;
  session: Session;
  /** The session's heartbeat interval may have become shorter. */
  heartbeatChanged(): void;
  /** The client said goodbye: close after the reply. */
  goodbye(): void;
}

/** Runs one request. Throws ServerError for refusals; the caller turns them into `error` replies. */
export function dispatch(context: RequestContext, request: Request): Handled {
  const { coordinator, session } = context;
  // Rate and permissions, before anything else happens (auth/guard.ts).
  coordinator.options.guard.admit(session, request);
  switch (request.op) {
    case "bye":
      coordinator.endSession(session, "released");
      context.goodbye();
      return answer<"bye">({});
    case "cancel":
      return answer<"cancel">({ cancelled: coordinator.cancel(session, request.target) });
    case "lease.grant": {
      const lease = coordinator.grantLease(session, request.ttl, request.keepAlive ?? true);
      if (lease.keepAlive) context.heartbeatChanged();
      return answer<"lease.grant">({ lease: lease.id, ttl: lease.ttl, keepAlive: lease.keepAlive });
    }
    case "lease.renew": {
      const lease = coordinator.ownLease(session, request.lease);
      coordinator.renewLease(lease);
      return answer<"lease.renew">({ ttl: lease.ttl });
    }
    case "lease.revoke":
      coordinator.endLease(coordinator.ownLease(session, request.lease), "released");
      context.heartbeatChanged();
      return answer<"lease.revoke">({});
    case "lease.ttl":
      return answer<"lease.ttl">(coordinator.timeToLive(coordinator.ownLease(session, request.lease)));
    case "lock.acquire": {
      const outcome = coordinator.acquire(session, coordinator.locks, {
        id: request.id,
        name: request.name,
        lease: request.lease,
        mode: request.mode ?? "exclusive",
        limit: request.limit,
        wait: request.wait ?? 0,
        value: undefined,
        steal: request.steal,
      });
      if (outcome === "queued") return "later";
      if (outcome === "busy") return answer<"lock.acquire">({ acquired: false });
      return answer<"lock.acquire">({ acquired: true, token: outcome.token });
    }
    case "lock.release":
      return answer<"lock.release">({ released: coordinator.release(session, coordinator.locks, request.name, request.token) });
    case "lock.query":
      return answer<"lock.query">(lockQuery(coordinator, request.prefix, (name) => coordinator.options.guard.mayUse(session, Right.lock, name)));
    case "admin.release":
      return answer<"admin.release">({ released: coordinator.forceRelease(request.name) });
    case "admin.revoke": {
      const lease = coordinator.leases.get(request.lease);
      if (lease) coordinator.endLease(lease, "revoked");
      return answer<"admin.revoke">({ revoked: lease !== undefined });
    }
    case "admin.state":
      return answer<"admin.state">(adminState(coordinator));
    case "admin.subscribe":
      // Answered by the feed itself, so that the reply goes out before the snapshot.
      coordinator.adminFeed.open(session, request.id);
      return "later";
    case "admin.unsubscribe":
      coordinator.adminFeed.unsubscribe(session, request.subscription);
      return answer<"admin.unsubscribe">({});
    case "kv.put":
    case "kv.get":
    case "kv.delete":
    case "kv.list":
    case "watch":
    case "unwatch":
    case "counter.add":
    case "counter.get":
    case "counter.set":
    case "counter.cas":
    case "election.campaign":
    case "election.resign":
    case "election.leader":
    case "election.observe":
    case "election.unobserve":
      return dispatchShared(context, request);
    default:
      return exhaustive(request);
  }
}

function answer<Op extends Request["op"]>(result: ResultOf<Op>): Handled {
  return { now: result };
}

function exhaustive(request: never): never {
  throw new ServerError(ErrorCode.UNKNOWN_OP, `unknown op ${(request as { op: string }).op}`);
}

/** Locks (not semaphores) under `prefix` that `visible` lets through: holders in grant order (by token), waiters in queue order (by place). */
function lockQuery(coordinator: Coordinator, prefix: string, visible: (name: string) => boolean): ResultOf<"lock.query"> {
  const held: { token: number; entry: ResultOf<"lock.query">["held"][number] }[] = [];
  const pending: { seq: number; entry: ResultOf<"lock.query">["pending"][number] }[] = [];
  for (const lock of coordinator.locks.entries()) {
    if (lock.kind !== "lock" || !lock.name.startsWith(prefix) || !visible(lock.name)) continue;
    for (const hold of lock.holders.values()) held.push({ token: hold.token, entry: { name: lock.name, mode: hold.mode, clientId: hold.lease.session.id } });
    for (const waiter of lock.queue) pending.push({ seq: waiter.seq, entry: { name: lock.name, mode: waiter.mode, clientId: waiter.lease.session.id } });
  }
  return {
    held: held.sort((a, b) => a.token - b.token).map((item) => item.entry),
    pending: pending.sort((a, b) => a.seq - b.seq).map((item) => item.entry),
  };
}

function adminState(coordinator: Coordinator): ResultOf<"admin.state"> {
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
    })),
    leases: [...coordinator.leases.values()].map((lease) => ({
      lease: lease.id,
      session: lease.session.id,
      ttl: lease.ttl,
      remaining: Math.max(0, Math.round(coordinator.deadline(lease) - now)),
      keepAlive: lease.keepAlive,
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
  };
}
