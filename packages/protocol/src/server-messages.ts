import * as z from "zod/mini";
import { LockMode, type RequestOp } from "./client-messages.js";
import { ErrorCode } from "./codes.js";
import { DEFAULT_LIMITS } from "./limits.js";
import { LeaseId, Millis, Name, NonNegativeInt, PositiveInt, RequestId, Revision, SafeInt, Token, Value } from "./values.js";

/**
 * Every message a server sends, as one discriminated union on `type`:
 * `welcome` (once, answering `hello`), `ping` (heartbeats), `reply` and `error` (answering a request
 * by its `id`), and pushes that are not answers to anything (`lease.ended`, `lock.lost`, ...).
 */

/** The limits every server has announced since the first version of the protocol. */
const FIRST_LIMITS = [
  "maxFrameBytes",
  "minTtlMs",
  "maxTtlMs",
  "maxWaitMs",
  "maxSessions",
  "maxLeasesPerSession",
  "maxWaitersPerLock",
  "maxLocksPerSession",
  "maxWatchesPerSession",
] as const satisfies readonly LimitName[];

/**
 * The limits announced in `welcome.limits`: every limit of `DEFAULT_LIMITS`, as the server applies it
 * to this connection's principal. Those of the first servers are required; every limit added since
 * (and every one added later) is optional, so that a client still reads an older server's welcome.
 */
export const WelcomeLimits = z.object(limitsShape());
export type WelcomeLimits = z.infer<typeof WelcomeLimits>;

/** What a resumed session still holds, so that the client can settle what it did not hear while away. */
export const Resync = z.object({
  /** The highest request id the server received in this session. Requests above it never arrived: send them again. */
  lastRequest: NonNegativeInt,
  leases: z.array(z.object({ lease: LeaseId, ttl: Millis, keepAlive: z.boolean() })),
  /** Locks, semaphore slots and election seats held, with the id of the request that won each. */
  holds: z.array(z.object({ request: RequestId, name: Name, lease: LeaseId, token: Token })),
  /** Waits still queued, by the id of the request that queued them. */
  waits: z.array(z.object({ request: RequestId, name: Name, lease: LeaseId })),
});
export type Resync = z.infer<typeof Resync>;

export const Welcome = z.object({
  type: z.literal("welcome"),
  version: z.int(),
  session: z.string(),
  /** Proof of ownership, sent back in `hello.resume` to resume this session after a reconnect. */
  secret: z.string(),
  resumed: z.boolean(),
  /** The heartbeat interval in ms at this moment. */
  heartbeat: PositiveInt,
  /**
   * The session's interval without kept-alive leases, which pings return to when its short leases end:
   * a client's silence rule is built on it. Optional: servers before it did not send it.
   */
  baseHeartbeat: z.optional(PositiveInt),
  /** How long the server keeps a silent session (at least; longer while it has a longer lease), in ms. Optional, as `baseHeartbeat`. */
  sessionGrace: z.optional(PositiveInt),
  limits: WelcomeLimits,
  /** Present when `resumed` is true. */
  resync: z.optional(Resync),
});

export const Ping = z.object({
  type: z.literal("ping"),
  seq: PositiveInt,
  /** The `seq` of the latest `pong` the server received (0 if none): proof that the client was heard when it sent it. */
  ack: NonNegativeInt,
});

export const Reply = z.object({ type: z.literal("reply"), id: RequestId, result: z.record(z.string(), z.unknown()) });

export const ErrorMessage = z.object({
  type: z.literal("error"),
  /** The request this answers; absent for an error about a frame that could not be read. */
  id: z.optional(RequestId),
  code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
});

/** The reasons a `lease.ended` carries today. */
export const LEASE_ENDED_REASONS = ["expired", "revoked"] as const;
/** The reasons a `lock.lost` carries today. */
export const LOCK_LOST_REASONS = ["revoked", "stolen"] as const;

/**
 * A push's `reason`: one of today's values, or a later one. Open on purpose (PROTOCOL.md section 2,
 * "Versions and compatibility"): a holder that never used `steal` still receives "stolen", so a client
 * must read any reason as the loss it reports rather than refuse the frame. The bound keeps a hostile
 * server's text short in the client's error messages.
 */
function openReason<const Known extends readonly [string, ...string[]]>(known: Known) {
  return z.union([z.enum(known), z.string().check(z.maxLength(64))]);
}

/** A lease ended without its owner asking (it expired) or was revoked by an admin. Everything bound to it is gone. */
export const LeaseEnded = z.object({
  type: z.literal("lease.ended"),
  lease: LeaseId,
  reason: openReason(LEASE_ENDED_REASONS),
});

/** A held lock, semaphore slot or election seat was taken away: force-released by an admin, or stolen by a `lock.acquire` with `steal`. */
export const LockLost = z.object({
  type: z.literal("lock.lost"),
  name: Name,
  token: Token,
  reason: openReason(LOCK_LOST_REASONS),
});

export const WatchEvent = z.object({
  type: z.enum(["put", "delete"]),
  key: Name,
  value: z.optional(Value),
  revision: PositiveInt,
});
export type WatchEvent = z.infer<typeof WatchEvent>;

/** Changes under a watched prefix, in revision order. */
export const WatchEvents = z.object({ type: z.literal("watch.events"), watch: RequestId, events: z.array(WatchEvent) });

/** The server ended a watch or observer; `code` says why (WATCH_OVERFLOW, PERMISSION_DENIED). */
export const WatchClosed = z.object({
  type: z.literal("watch.closed"),
  watch: RequestId,
  code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
});

export const LeaderInfo = z.object({ value: Value, token: Token });
export type LeaderInfo = z.infer<typeof LeaderInfo>;

/** The leader of an observed election changed (null: vacant). */
export const LeaderChanged = z.object({ type: z.literal("election.changed"), observe: RequestId, leader: z.nullable(LeaderInfo) });

/** A holder or a waiter as the admin feed shows it; `since` is when it was granted or queued, on the clock of `now`. */
const AdminPlace = z.object({ session: z.string(), lease: LeaseId, mode: LockMode, since: NonNegativeInt });

/** A lock, semaphore or election in the admin feed: its first holders and waiters in order, and how many there are in all. */
export const AdminLockView = z.object({
  name: Name,
  kind: z.enum(["lock", "semaphore", "election"]),
  limit: z.optional(PositiveInt),
  /** Holders (an election's leader), in grant order, each with its fencing token; at most 100 are listed. */
  holders: z.array(z.extend(AdminPlace, { token: Token })),
  held: NonNegativeInt,
  /** Waiters (an election's candidates), in queue order; at most 100 are listed. */
  waiters: z.array(AdminPlace),
  waiting: NonNegativeInt,
  /**
   * Lock-delays running (holds lost rather than released, see lock-delay): how many, and when the
   * last one ends, on the clock of `now`. Absent when none runs. A lock in its delay may have no
   * holder and no waiter and still be listed: nobody can be granted it until `until`.
   */
  delay: z.optional(z.object({ count: PositiveInt, until: NonNegativeInt })),
});
export type AdminLockView = z.infer<typeof AdminLockView>;

export const AdminSessionView = z.object({
  session: z.string(),
  address: z.string(),
  /** The client's own name for itself (`hello.agent`). */
  agent: z.optional(z.string()),
  connected: z.boolean(),
  since: NonNegativeInt,
});
export type AdminSessionView = z.infer<typeof AdminSessionView>;

export const AdminLeaseView = z.object({
  lease: LeaseId,
  session: z.string(),
  ttl: Millis,
  keepAlive: z.boolean(),
  /** When a lease without keep-alive ends unless renewed, on the clock of `now`; a kept-alive lease lives as long as its session is heard. */
  expiresAt: z.optional(NonNegativeInt),
});
export type AdminLeaseView = z.infer<typeof AdminLeaseView>;

/**
 * The admin feed: what changed since the last push (each item is the whole current view of that
 * session, lease or entry, or its name under `...Gone`). `reset` starts a snapshot (forget all you
 * have); `synced` says that, with this push, the receiver holds the whole state as of `revision`.
 */
export const AdminUpdate = z.object({
  type: z.literal("admin.update"),
  subscription: RequestId,
  /** The server's clock (ms, monotonic); `since` and `expiresAt` are on it. */
  now: NonNegativeInt,
  revision: Revision,
  reset: z.boolean(),
  synced: z.boolean(),
  sessions: z.array(AdminSessionView),
  sessionsGone: z.array(z.string()),
  leases: z.array(AdminLeaseView),
  leasesGone: z.array(LeaseId),
  /** Locks, semaphores and elections (one namespace for locks and semaphores, another for elections). */
  locks: z.array(AdminLockView),
  locksGone: z.array(Name),
  electionsGone: z.array(Name),
});

export const ServerMessage = z.discriminatedUnion("type", [
  Welcome,
  Ping,
  Reply,
  ErrorMessage,
  LeaseEnded,
  LockLost,
  WatchEvents,
  WatchClosed,
  LeaderChanged,
  AdminUpdate,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
export type Welcome = z.infer<typeof Welcome>;
export type Ping = z.infer<typeof Ping>;
export type Reply = z.infer<typeof Reply>;
export type ErrorMessage = z.infer<typeof ErrorMessage>;
export type LeaseEnded = z.infer<typeof LeaseEnded>;
export type LockLost = z.infer<typeof LockLost>;
export type WatchEvents = z.infer<typeof WatchEvents>;
export type WatchClosed = z.infer<typeof WatchClosed>;
export type LeaderChanged = z.infer<typeof LeaderChanged>;
export type AdminUpdate = z.infer<typeof AdminUpdate>;
export type Push = LeaseEnded | LockLost | WatchEvents | WatchClosed | LeaderChanged | AdminUpdate;

const KvEntry = z.object({ value: Value, revision: PositiveInt, lease: z.optional(LeaseId) });
const Acquired = z.union([
  z.object({ acquired: z.literal(true), token: Token }),
  z.object({ acquired: z.literal(false) }),
]);
const LockHolderView = z.object({ session: z.string(), lease: LeaseId, token: Token, mode: LockMode });
/** One held or requested lock in a `lock.query` result; `clientId` is the session's id, one per client. */
const LockQueryEntry = z.object({ name: Name, mode: LockMode, clientId: z.string() });

/** The `result` of a successful reply, per request op. */
export const Results = {
  bye: z.object({}),
  cancel: z.object({ cancelled: z.boolean() }),
  "lease.grant": z.object({ lease: LeaseId, ttl: Millis, keepAlive: z.boolean() }),
  "lease.renew": z.object({ ttl: Millis }),
  "lease.revoke": z.object({}),
  "lease.ttl": z.object({ ttl: Millis, remaining: Millis, keepAlive: z.boolean(), locks: z.array(Name) }),
  "lock.acquire": Acquired,
  "lock.release": z.object({ released: z.boolean() }),
  /** `held` in grant order, `pending` in queue order; only names the principal holds the `lock` right over. */
  "lock.query": z.object({ held: z.array(LockQueryEntry), pending: z.array(LockQueryEntry) }),
  "kv.put": z.object({ revision: PositiveInt }),
  "kv.get": z.object({ entry: z.nullable(KvEntry) }),
  "kv.delete": z.object({ deleted: z.boolean(), revision: Revision }),
  "kv.list": z.object({
    items: z.array(z.object({ key: Name, value: Value, revision: PositiveInt, lease: z.optional(LeaseId) })),
    /** Present when more keys follow: pass it as `after` for the next page. */
    next: z.optional(Name),
    revision: Revision,
  }),
  watch: z.object({ watch: RequestId, revision: Revision }),
  unwatch: z.object({}),
  "counter.add": z.object({ value: SafeInt, revision: PositiveInt }),
  "counter.get": z.object({ value: SafeInt }),
  "counter.set": z.object({ revision: PositiveInt }),
  "counter.cas": z.object({ ok: z.boolean(), value: SafeInt }),
  "election.campaign": z.union([
    z.object({ elected: z.literal(true), token: Token }),
    z.object({ elected: z.literal(false) }),
  ]),
  "election.resign": z.object({ resigned: z.boolean() }),
  "election.leader": z.object({ leader: z.nullable(LeaderInfo) }),
  "election.observe": z.object({ observe: RequestId, leader: z.nullable(LeaderInfo) }),
  "election.unobserve": z.object({}),
  "admin.state": z.object({
    now: NonNegativeInt,
    revision: Revision,
    sessions: z.array(
      z.object({
        session: z.string(),
        address: z.string(),
        agent: z.optional(z.string()),
        connected: z.boolean(),
        ageMs: NonNegativeInt,
        /** The account its quotas count against: its principal (`token:NAME`, `jwt:SUB`), or its IP address without authentication. */
        account: z.optional(z.string()),
        /** Watches, election observers and admin feeds open on its connection. */
        subscriptions: z.optional(NonNegativeInt),
      }),
    ),
    leases: z.array(
      z.object({
        lease: LeaseId,
        session: z.string(),
        ttl: Millis,
        remaining: NonNegativeInt,
        keepAlive: z.boolean(),
        /** Keys bound to it, deleted when it ends. */
        keys: z.optional(NonNegativeInt),
      }),
    ),
    locks: z.array(
      z.object({
        name: Name,
        kind: z.enum(["lock", "semaphore", "election"]),
        limit: z.optional(PositiveInt),
        holders: z.array(LockHolderView),
        waiters: z.array(z.object({ session: z.string(), lease: LeaseId, mode: LockMode })),
      }),
    ),
    // Counts that tell an admin (and a test) that state was made or freed; optional, as servers before them omit them.
    /** Keys stored. */
    keys: z.optional(NonNegativeInt),
    /** Counters stored. */
    counters: z.optional(NonNegativeInt),
    /** Changes kept for watches that resume from a revision (bounded by the server's watch history limits). */
    history: z.optional(NonNegativeInt),
  }),
  "admin.release": z.object({ released: z.boolean() }),
  "admin.revoke": z.object({ revoked: z.boolean() }),
  "admin.subscribe": z.object({ subscription: RequestId, revision: Revision }),
  "admin.unsubscribe": z.object({}),
} satisfies Record<RequestOp, z.ZodMiniType>;

export type ResultOf<Op extends RequestOp> = z.infer<(typeof Results)[Op]>;

type LimitName = keyof typeof DEFAULT_LIMITS;
type LimitsShape = { [Name in LimitName]: Name extends (typeof FIRST_LIMITS)[number] ? typeof PositiveInt : z.ZodMiniOptional<typeof PositiveInt> };

function limitsShape(): LimitsShape {
  const first: readonly string[] = FIRST_LIMITS;
  const names = Object.keys(DEFAULT_LIMITS);
  // Object.fromEntries cannot type a mapped object; the keys are DEFAULT_LIMITS's own, one each.
  return Object.fromEntries(names.map((name) => [name, first.includes(name) ? PositiveInt : z.optional(PositiveInt)])) as LimitsShape;
}
