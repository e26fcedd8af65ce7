import type { PrincipalLimits } from "../core/accounts.js";

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
  if (!Array.isArray(raw)) throw new Error(`${where}: permissions must be an array of { prefix, allow }`);
  return raw.map((item: unknown, index) => {
    const at = `${where}: permissions[${index}]`;
    if (typeof item !== "object" || item === null) throw new Error(`${at} must be an object { prefix, allow }`);
    const { prefix, allow } = item as { prefix?: unknown; allow?: unknown };
    if (typeof prefix !== "string" || prefix.length > 512) throw new Error(`${at}.prefix must be a string of at most 512 characters ("" for every name)`);
    if (!Array.isArray(allow) || allow.length === 0) throw new Error(`${at}.allow must be a non-empty array of rights (${RIGHTS.join(", ")})`);
    for (const right of allow) {
      if (typeof right !== "string" || !RIGHTS.includes(right)) throw new Error(`${at}.allow: unknown right ${JSON.stringify(right)}; rights are ${RIGHTS.join(", ")}`);
    }
    return { prefix, allow: new Set(allow as Right[]) };
  });
}
