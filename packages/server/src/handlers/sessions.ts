import type { HandlerTable } from "./handler.js";

/** A session's own requests: leaving, and taking back a wait it queued. */
export const sessionHandlers = {
  bye: {
    run(context) {
      context.coordinator.endSession(context.session, "released");
      context.goodbye();
      return { now: {} };
    },
  },
  cancel: {
    run: ({ coordinator, session }, request) => ({ now: { cancelled: coordinator.cancel(session, request.target) } }),
  },
} satisfies Partial<HandlerTable>;
