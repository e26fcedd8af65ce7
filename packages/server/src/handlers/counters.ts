import { Right } from "../auth/permissions.js";
import type { HandlerTable } from "./handler.js";

/** Counters. */
export const counterHandlers = {
  "counter.add": {
    needs: (request) => [{ right: Right.counter, name: request.name }],
    run: ({ coordinator, session }, request) => ({ now: coordinator.shared.counterAdd(session, request) }),
  },
  "counter.get": {
    needs: (request) => [{ right: Right.counter, name: request.name }],
    run: ({ coordinator }, request) => ({ now: { value: coordinator.shared.counters.get(request.name) } }),
  },
  "counter.set": {
    needs: (request) => [{ right: Right.counter, name: request.name }],
    run: ({ coordinator, session }, request) => ({ now: coordinator.shared.counterSet(session, request) }),
  },
  "counter.cas": {
    needs: (request) => [{ right: Right.counter, name: request.name }],
    run: ({ coordinator, session }, request) => ({ now: coordinator.shared.counterCas(session, request) }),
  },
} satisfies Partial<HandlerTable>;
