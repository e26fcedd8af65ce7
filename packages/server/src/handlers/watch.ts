import { Right } from "../auth/permissions.js";
import type { HandlerTable } from "./handler.js";

/** Watches: every change under a prefix, from a revision on. */
export const watchHandlers = {
  watch: {
    needs: (request) => [{ right: Right.watch, name: request.prefix, prefix: true }],
    run({ coordinator, session }, request) {
      // Answered by the hub itself, so that the reply goes out before the first events.
      coordinator.shared.watches.open(session, request.id, request.prefix, request.fromRevision, coordinator.revision, coordinator.options.limits.maxWatchesPerSession);
      return "later";
    },
  },
  unwatch: {
    run({ coordinator, session }, request) {
      coordinator.shared.watches.unwatch(session, request.watch);
      return { now: {} };
    },
  },
} satisfies Partial<HandlerTable>;
