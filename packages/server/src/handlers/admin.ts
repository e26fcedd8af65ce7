import { Right, type Requirement } from "../auth/permissions.js";
import { inspect } from "../core/inspect.js";
import type { HandlerTable } from "./handler.js";

/** The whole server's state, and any session's lease: admin over every name. */
const OVER_EVERY_NAME: readonly Requirement[] = [{ right: Right.admin, name: "", prefix: true }];

/** Administration: the server's state and its feed, taking locks and leases away. */
export const adminHandlers = {
  "admin.release": {
    needs: (request) => [{ right: Right.admin, name: request.name }],
    run({ coordinator, session }, request) {
      const released = coordinator.forceRelease(request.name);
      if (released) coordinator.options.logger?.info({ lock: request.name, by: session.principal ?? "anonymous", session: session.id }, "admin released a lock");
      return { now: { released } };
    },
  },
  "admin.revoke": {
    needs: () => OVER_EVERY_NAME,
    run({ coordinator, session }, request) {
      const lease = coordinator.leases.get(request.lease);
      if (lease) {
        coordinator.options.logger?.info({ lease: lease.id, owner: lease.session.id, by: session.principal ?? "anonymous", session: session.id }, "admin revoked a lease");
        coordinator.endLease(lease, "revoked");
      }
      return { now: { revoked: lease !== undefined } };
    },
  },
  "admin.state": {
    needs: () => OVER_EVERY_NAME,
    run: ({ coordinator }) => ({ now: inspect(coordinator) }),
  },
  "admin.subscribe": {
    needs: () => OVER_EVERY_NAME,
    run({ coordinator, session }, request) {
      // Answered by the feed itself, so that the reply goes out before the snapshot.
      coordinator.adminFeed.open(session, request.id);
      return "later";
    },
  },
  "admin.unsubscribe": {
    run({ coordinator, session }, request) {
      coordinator.adminFeed.unsubscribe(session, request.subscription);
      return { now: {} };
    },
  },
} satisfies Partial<HandlerTable>;
