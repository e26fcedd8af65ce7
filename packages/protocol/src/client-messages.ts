import * as z from "zod/mini";
import { LeaseId, Millis, Name, NonNegativeInt, Prefix, RequestId, Revision, SafeInt, Token, Value, utf16Length } from "./values.js";

/**
 * Every message a client sends, as one discriminated union on `op`.
 * Requests carry an `id` (a positive integer that grows with every request of a session, across
 * reconnects); the server answers each with exactly one `reply` or `error` carrying that id.
 * `hello` and `pong` are not requests and get no reply of their own.
 */

function request<Op extends string, Shape extends z.core.$ZodLooseShape>(op: Op, shape: Shape) {
  return z.object({ op: z.literal(op), id: RequestId, ...shape });
}

/** How a lock is held: alone, or side by side with other shared holders. */
export const LockMode = z.enum(["exclusive", "shared"]);
export type LockMode = z.infer<typeof LockMode>;

/** A fence: the write applies only while `lock` is held with exactly `token`. */
export const Fence = z.object({ lock: Name, token: Token });
export type Fence = z.infer<typeof Fence>;

/** `true` waits without limit; a number waits that many ms; absent or 0 answers at once. */
export const Wait = z.union([z.literal(true), Millis]);

export const Hello = z.object({
  op: z.literal("hello"),
  version: z.int().check(z.minimum(0)),
  /** Resume this session if the server still holds it. */
  resume: z.optional(z.object({ session: z.string().check(utf16Length(1, 64)), secret: z.string().check(utf16Length(1, 128)) })),
  /** A credential (static token or JWT) when the server requires authentication. */
  auth: z.optional(z.string().check(utf16Length(0, 8192))),
  /** Free text naming the client library, for logs and the dashboard. */
  agent: z.optional(z.string().check(utf16Length(0, 128))),
});

export const Pong = z.object({ op: z.literal("pong"), seq: NonNegativeInt });

export const Bye = request("bye", {});
export const Cancel = request("cancel", { target: RequestId });

export const LeaseGrant = request("lease.grant", { ttl: Millis, keepAlive: z.optional(z.boolean()) });
export const LeaseRenew = request("lease.renew", { lease: LeaseId });
export const LeaseRevoke = request("lease.revoke", { lease: LeaseId });
export const LeaseTtl = request("lease.ttl", { lease: LeaseId });

export const LockAcquire = request("lock.acquire", {
  name: Name,
  lease: LeaseId,
  wait: z.optional(Wait),
  mode: z.optional(LockMode),
  /** Present for semaphores: the most holders at once. Every user of the name must give the same limit. */
  limit: z.optional(z.int().check(z.minimum(1), z.maximum(1_000_000))),
  /**
   * Take the lock from its holders at once (they get `lock.lost` with reason "stolen"); queued
   * requests keep waiting. Exclusive locks only, without `wait` or `limit`; needs the `steal` right.
   */
  steal: z.optional(z.boolean()),
  /**
   * Lock-delay, in ms: when this hold is lost rather than released (its lease expires or an admin
   * revokes it), nobody else is granted the lock for this long. Absent: the server's default (0 unless set).
   */
  lockDelay: z.optional(Millis),
});
export const LockRelease = request("lock.release", { name: Name, token: Token });
/** Who holds and who waits for the locks under `prefix` (not semaphores), as the Web Locks API's `query()`. */
export const LockQuery = request("lock.query", { prefix: Prefix });

export const KvPut = request("kv.put", {
  key: Name,
  value: Value,
  lease: z.optional(LeaseId),
  /** Compare-and-set: apply only if the key's revision is this; 0 means "only if absent". */
  ifRevision: z.optional(Revision),
  fence: z.optional(Fence),
});
export const KvGet = request("kv.get", { key: Name });
export const KvDelete = request("kv.delete", { key: Name, ifRevision: z.optional(Revision), fence: z.optional(Fence) });
export const KvList = request("kv.list", {
  prefix: Prefix,
  /** Start after this key (the `next` of the previous page). */
  after: z.optional(Name),
  limit: z.optional(z.int().check(z.minimum(1), z.maximum(1_000))),
});
export const Watch = request("watch", { prefix: Prefix, fromRevision: z.optional(Revision) });
export const Unwatch = request("unwatch", { watch: RequestId });

export const CounterAdd = request("counter.add", { name: Name, delta: SafeInt });
export const CounterGet = request("counter.get", { name: Name });
export const CounterSet = request("counter.set", { name: Name, value: SafeInt });
export const CounterCas = request("counter.cas", { name: Name, expect: SafeInt, value: SafeInt });

export const Campaign = request("election.campaign", { name: Name, lease: LeaseId, value: Value, wait: z.optional(Wait) });
export const Resign = request("election.resign", { name: Name, token: Token });
export const Leader = request("election.leader", { name: Name });
export const Observe = request("election.observe", { name: Name });
export const Unobserve = request("election.unobserve", { observe: RequestId });

export const AdminState = request("admin.state", {});
export const AdminRelease = request("admin.release", { name: Name });
export const AdminRevoke = request("admin.revoke", { lease: LeaseId });
/** Opens the admin feed: a snapshot of the server's state in `admin.update` pushes, then its changes. */
export const AdminSubscribe = request("admin.subscribe", {});
export const AdminUnsubscribe = request("admin.unsubscribe", { subscription: RequestId });

export const ClientMessage = z.discriminatedUnion("op", [
  Hello,
  Pong,
  Bye,
  Cancel,
  LeaseGrant,
  LeaseRenew,
  LeaseRevoke,
  LeaseTtl,
  LockAcquire,
  LockRelease,
  LockQuery,
  KvPut,
  KvGet,
  KvDelete,
  KvList,
  Watch,
  Unwatch,
  CounterAdd,
  CounterGet,
  CounterSet,
  CounterCas,
  Campaign,
  Resign,
  Leader,
  Observe,
  Unobserve,
  AdminState,
  AdminRelease,
  AdminRevoke,
  AdminSubscribe,
  AdminUnsubscribe,
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
export type Hello = z.infer<typeof Hello>;
export type Pong = z.infer<typeof Pong>;

/** A message that expects a reply. */
export type Request = Exclude<ClientMessage, Hello | Pong>;
export type RequestOp = Request["op"];
export type RequestOf<Op extends RequestOp> = Extract<Request, { op: Op }>;
/** What a caller fills in: the request without its `op` and `id`. */
export type ParamsOf<Op extends RequestOp> = Omit<RequestOf<Op>, "op" | "id">;

/** Every op name, for error messages that list them. */
export const CLIENT_OPS: readonly string[] = ClientMessage.def.options.map((option) => option.shape.op.def.values[0] as string);
