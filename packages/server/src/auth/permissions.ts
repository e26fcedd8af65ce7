import { BOUNDS } from "@leasehold/protocol";
import * as z from "zod/mini";
import type { PrincipalLimits } from "../core/accounts.js";
import { configProblem } from "./config-problem.js";

/**
 * Who a connection is and what it may touch. A principal holds grants; each grant allows some rights
 * on every name that starts with its prefix. The same shape comes from the static token file and
 * from a JWT's `leasehold` claim, so that both are checked by one function.
 */

/** What a grant can allow, one right per kind of resource (keys split into reading and writing). */
export const Right = {
  /** Locks and semaphores: acquire (and fence a write with one of them). */
  lock: "lock",
  /** Locks: take one from its holder (`lock.acquire` with `steal`), which cannot be told before. `admin` includes it. */
  steal: "steal",
  /** Elections: campaign, read the leader, observe. */
  election: "election",
  /** Keys: get and list. */
  read: "read",
  /** Keys: put and delete. */
  write: "write",
  /** Counters: read and change. */
  counter: "counter",
  /** Watches: every change, values included, under a prefix. */
  watch: "watch",
  /** Administration: the whole server's state, force-release, revoke any lease. */
  admin: "admin",
} as const;
export type Right = (typeof Right)[keyof typeof Right];

const RIGHTS: readonly string[] = Object.values(Right);

/** A right a request needs over a name it touches (handlers/ give each op's; the guard checks them). */
export interface Requirement {
  readonly right: Right;
  /** The name, or with `prefix` the whole range of names a watch or a list covers. */
  readonly name: string;
  readonly prefix?: boolean;
  /** What a refusal says the principal may not do; the op by default. */
  readonly doing?: string;
  /** Also met by the admin right over the name (a steal). */
  readonly orAdmin?: boolean;
}

export interface Grant {
  /** Names (and watch or list prefixes) starting with this; "" is every name. */
  readonly prefix: string;
  readonly allow: ReadonlySet<Right>;
}

export interface Principal {
  /** Shown in logs and errors; never the credential itself. */
  readonly name: string;
  /** How the principal proved itself. */
  readonly via: "anonymous" | "token" | "jwt";
  /** True when authentication is off: everything is allowed and no check runs. */
  readonly unrestricted: boolean;
  readonly grants: readonly Grant[];
  /** Its own per-principal limits (a token file entry's `limits`), over the server's defaults. */
  readonly limits?: Partial<PrincipalLimits>;
}

/**
 * A ticket's principal is named `jwt:<sub>`, so that a subject never equals a static token's name
 * (which may not start with it): a name alone then tells who may resume a session and whose quota a
 * session counts against, and a PERMISSION_DENIED message says which kind of credential was refused.
 */
export const JWT_NAME_PREFIX = "jwt:";

/** Longest principal name (a token's name, a JWT's subject): it is shown in logs and refusals, and stored with every session it opens. */
export const MAX_PRINCIPAL_NAME_LENGTH = 128;

/** The principal of every connection while authentication is off. */
export const ANONYMOUS: Principal = { name: "anonymous", via: "anonymous", unrestricted: true, grants: [] };

/**
 * True if the principal may use `right` on `name`. For a prefix (a watch, a list) the same test asks
 * whether the whole range is inside one grant: prefix "tenant-a/x" lies inside the grant "tenant-a/",
 * prefix "" does not.
 */
export function allows(principal: Principal, right: Right, name: string): boolean {
  if (principal.unrestricted) return true;
  for (const grant of principal.grants) {
    if (grant.allow.has(right) && name.startsWith(grant.prefix)) return true;
  }
  return false;
}

/** A short description of what a principal may do, for the message of a refusal. */
export function describeGrants(principal: Principal): string {
  if (principal.grants.length === 0) return "nothing";
  return principal.grants.map((grant) => `${[...grant.allow].join(", ")} under "${grant.prefix}"`).join("; ");
}

/**
 * Reads grants from untrusted JSON (a token file, a JWT claim):
 * `[{ "prefix": "tenant-a/", "allow": ["lock", "read"] }, ...]`. Throws with a message that names
 * the problem; unknown rights are an error rather than silently ignored.
 */
export function parseGrants(raw: unknown, where: string): Grant[] {
  const parsed = Grants.safeParse(raw);
  if (!parsed.success) throw new Error(configProblem(parsed.error, where, "permissions"));
  return parsed.data.map(toGrant);
}

/** The shape of a principal's grants, in the token file and in a JWT's claim (messages follow their path, see configProblem). */
export const Grants = z.array(
  z.object(
    {
      prefix: z.string({ error: prefixRule }).check(z.refine((prefix) => prefix.length <= BOUNDS.maxNameLength, { error: prefixRule })),
      allow: z
        .array(
          z.custom<Right>((right) => typeof right === "string" && RIGHTS.includes(right), {
            error: (issue) => `names an unknown right ${JSON.stringify(issue.input)}; rights are ${RIGHTS.join(", ")}`,
          }),
          { error: allowRule },
        )
        .check(z.minLength(1, { error: allowRule })),
    },
    { error: "must be an object { prefix, allow }" },
  ),
  { error: "must be an array of { prefix, allow }" },
);

/** A parsed grant, its rights as a set. */
export function toGrant(grant: z.infer<typeof Grants>[number]): Grant {
  return { prefix: grant.prefix, allow: new Set(grant.allow) };
}

function prefixRule(): string {
  return `must be a string of at most ${BOUNDS.maxNameLength} characters ("" for every name)`;
}

function allowRule(): string {
  return `must be a non-empty array of rights (${RIGHTS.join(", ")})`;
}
