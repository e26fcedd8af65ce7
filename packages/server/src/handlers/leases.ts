import type { HandlerTable } from "./handler.js";

/** Leases: only ever the session's own, so they need no right. */
export const leaseHandlers = {
  "lease.grant": {
    run(context, request) {
      const lease = context.coordinator.grantLease(context.session, request.ttl, request.keepAlive ?? true);
      if (lease.keepAlive) context.heartbeatChanged();
      return { now: { lease: lease.id, ttl: lease.ttl, keepAlive: lease.keepAlive } };
    },
  },
  "lease.renew": {
    run({ coordinator, session }, request) {
      const lease = coordinator.ownLease(session, request.lease);
      coordinator.renewLease(lease);
      return { now: { ttl: lease.ttl } };
    },
  },
  "lease.revoke": {
    run(context, request) {
      const { coordinator, session } = context;
      coordinator.endLease(coordinator.ownLease(session, request.lease), "released");
      context.heartbeatChanged();
      return { now: {} };
    },
  },
  "lease.ttl": {
    run: ({ coordinator, session }, request) => ({ now: coordinator.timeToLive(coordinator.ownLease(session, request.lease)) }),
  },
} satisfies Partial<HandlerTable>;
