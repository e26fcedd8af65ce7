import type { RequestOf, ResultOf } from "@leasehold/protocol";
import type { Handled, RequestContext } from "./dispatch.js";

/** The ops of shared state: keys, watches, counters and elections. */
export type SharedOp =
  | "kv.put"
  | "kv.get"
  | "kv.delete"
  | "kv.list"
  | "watch"
  | "unwatch"
  | "counter.add"
  | "counter.get"
  | "counter.set"
  | "counter.cas"
  | "election.campaign"
  | "election.resign"
  | "election.leader"
  | "election.observe"
  | "election.unobserve";

/** Runs one shared-state request. Throws ServerError for refusals, like `dispatch`. */
export function dispatchShared(context: RequestContext, request: RequestOf<SharedOp>): Handled {
  const { coordinator, session } = context;
  const shared = coordinator.shared;
  const { maxWatchesPerSession } = coordinator.options.limits;
  switch (request.op) {
    case "kv.put":
      return answer<"kv.put">(shared.put(session, request));
    case "kv.get":
      return answer<"kv.get">(shared.get(request.key));
    case "kv.delete":
      return answer<"kv.delete">(shared.delete(request));
    case "kv.list":
      return answer<"kv.list">(shared.list(request));
    case "watch":
      // Answered by the hub itself, so that the reply goes out before the first events.
      shared.watches.open(session, request.id, request.prefix, request.fromRevision, coordinator.revision, maxWatchesPerSession);
      return "later";
    case "unwatch":
      shared.watches.unwatch(session, request.watch);
      return answer<"unwatch">({});
    case "counter.add":
      return answer<"counter.add">(shared.counterAdd(session, request));
    case "counter.get":
      return answer<"counter.get">({ value: shared.counters.get(request.name) });
    case "counter.set":
      return answer<"counter.set">(shared.counterSet(session, request));
    case "counter.cas":
      return answer<"counter.cas">(shared.counterCas(session, request));
    case "election.campaign": {
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
      if (outcome === "busy") return answer<"election.campaign">({ elected: false });
      return answer<"election.campaign">({ elected: true, token: outcome.token });
    }
    case "election.resign":
      return answer<"election.resign">({ resigned: coordinator.release(session, coordinator.elections, request.name, request.token) });
    case "election.leader":
      return answer<"election.leader">({ leader: shared.observers.leader(request.name) });
    case "election.observe":
      // Answered by the observers, so that the reply goes out before the first change.
      shared.observers.open(session, request.id, request.name, maxWatchesPerSession);
      return "later";
    case "election.unobserve":
      shared.observers.unobserve(session, request.observe);
      return answer<"election.unobserve">({});
    default:
      return exhaustive(request);
  }
}

function answer<Op extends SharedOp>(result: ResultOf<Op>): Handled {
  return { now: result };
}

function exhaustive(request: never): never {
  throw new Error(`unhandled shared-state op ${(request as { op: string }).op}`);
}
