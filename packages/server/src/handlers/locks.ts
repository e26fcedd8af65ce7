import type { ResultOf } from "@leasehold/protocol";
import { Right } from "../auth/permissions.js";
import type { Coordinator } from "../core/coordinator.js";
import type { HandlerTable } from "./handler.js";

/** Locks and semaphores. */
export const lockHandlers = {
  "lock.acquire": {
    // A steal cannot tell the holder before the lock changes hands: its own right, which admins have.
    needs: (request) => [
      ...(request.steal ? [{ right: Right.steal, name: request.name, doing: "steal", orAdmin: true }] : []),
      { right: Right.lock, name: request.name },
    ],
    run({ coordinator, session }, request) {
      const outcome = coordinator.acquire(session, coordinator.locks, {
        id: request.id,
        name: request.name,
        lease: request.lease,
        mode: request.mode ?? "exclusive",
        limit: request.limit,
        wait: request.wait ?? 0,
        value: undefined,
        steal: request.steal,
        lockDelay: request.lockDelay,
      });
      if (outcome === "queued") return "later";
      if (outcome === "busy") return { now: { acquired: false } };
      return { now: { acquired: true, token: outcome.token } };
    },
  },
  "lock.release": {
    run: ({ coordinator, session }, request) => ({ now: { released: coordinator.release(session, coordinator.locks, request.name, request.token) } }),
  },
  // Answers only with the names the principal may lock (see Guard.mayUse): nothing to refuse.
  "lock.query": {
    run: ({ coordinator, session, guard }, request) => ({ now: lockQuery(coordinator, request.prefix, (name) => guard.mayUse(session, Right.lock, name)) }),
  },
} satisfies Partial<HandlerTable>;

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
