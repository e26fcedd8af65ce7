import { Right } from "../auth/permissions.js";
import type { HandlerTable } from "./handler.js";

/** Elections: campaigns for one seat per name, its leader, and observers of its changes. */
export const electionHandlers = {
  "election.campaign": {
    needs: (request) => [{ right: Right.election, name: request.name }],
    run({ coordinator, session }, request) {
      const outcome = coordinator.acquire(session, coordinator.elections, {
        id: request.id,
        name: request.name,
        lease: request.lease,
        mode: "exclusive",
        limit: undefined,
        wait: request.wait ?? 0,
        value: request.value,
      });
      if (outcome === "queued") return "later";
      if (outcome === "busy") return { now: { elected: false } };
      return { now: { elected: true, token: outcome.token } };
    },
  },
  "election.resign": {
    run: ({ coordinator, session }, request) => ({ now: { resigned: coordinator.release(session, coordinator.elections, request.name, request.token) } }),
  },
  "election.leader": {
    needs: (request) => [{ right: Right.election, name: request.name }],
    run: ({ coordinator }, request) => ({ now: { leader: coordinator.shared.observers.leader(request.name) } }),
  },
  "election.observe": {
    needs: (request) => [{ right: Right.election, name: request.name }],
    run({ coordinator, session }, request) {
      // Answered by the observers, so that the reply goes out before the first change.
      coordinator.shared.observers.open(session, request.id, request.name, coordinator.options.limits.maxWatchesPerSession);
      return "later";
    },
  },
  "election.unobserve": {
    run({ coordinator, session }, request) {
      coordinator.shared.observers.unobserve(session, request.observe);
      return { now: {} };
    },
  },
} satisfies Partial<HandlerTable>;
