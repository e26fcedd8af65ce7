import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as z from "zod/mini";
import type { PrincipalLimits } from "../core/accounts.js";
import { configProblem } from "./config-problem.js";
import { Grants, JWT_NAME_PREFIX, MAX_PRINCIPAL_NAME_LENGTH, toGrant, type Principal } from "./permissions.js";

/** One entry of the token file: a name, the token (or its SHA-256), and its permissions. */
export interface StaticToken {
  /** Names the holder in logs, errors and the dashboard; unique in the file (it decides who may resume a session). */
  name: string;
  /** The token itself, at least 16 characters. Give this or `sha256`. */
  token?: string;
  /** The token's SHA-256 in hex, so that the file need not hold the token. */
  sha256?: string;
  permissions: { prefix: string; allow: string[] }[];
  /**
   * Its own per-principal limits over the server's defaults, e.g. `{ "maxSessions": 5000 }` for a token
   * shared by many workers. Names: maxSessions, maxLeases, maxKeys, maxCounters, maxBytes, maxTtlMs.
   */
  limits?: Record<string, number>;
}

/** Names of the per-token overrides in the token file's `limits` object, and the limit each sets. */
export const TOKEN_FILE_LIMITS = {
  maxSessions: "maxSessionsPerPrincipal",
  maxLeases: "maxLeasesPerPrincipal",
  maxKeys: "maxKeysPerPrincipal",
  maxCounters: "maxCountersPerPrincipal",
  maxBytes: "maxBytesPerPrincipal",
  maxTtlMs: "maxTtlMs",
} as const satisfies Record<string, keyof PrincipalLimits>;

const MIN_TOKEN_LENGTH = 16;

/**
 * Static tokens, looked up by their SHA-256: the presented credential is hashed and the digest found
 * in a map, so that the comparison does not leak how much of a token matched, and so that the file
 * may hold digests instead of tokens.
 */
export class StaticTokens {
  readonly #byDigest = new Map<string, Principal>();
  /** The way back, for a reload: which token admitted a principal. */
  readonly #digestOf = new WeakMap<Principal, string>();

  /** Checks the entries (TokenEntries), then that names and tokens are unique; throws with a message naming the entry and the problem. */
  constructor(entries: readonly StaticToken[], where = "auth tokens") {
    const parsed = TokenEntries.safeParse(entries);
    if (!parsed.success) throw new Error(configProblem(parsed.error, where, "tokens", (index) => nameOf(entries, index)));
    const indexByName = new Map<string, number>();
    parsed.data.forEach((entry, index) => {
      const at = `${where}: tokens[${index}]`;
      // A session may be resumed by the principal of the same name (guard.ts), so two entries of one
      // name could take over each other's sessions.
      const earlier = indexByName.get(entry.name);
      if (earlier !== undefined) {
        throw new Error(`${at} is named "${entry.name}" like tokens[${earlier}]: names must be unique (a session may be resumed by any token of its name); rename one of them`);
      }
      indexByName.set(entry.name, index);
      if (this.#byDigest.has(entry.digest)) throw new Error(`${at}: the same token appears twice`);
      const principal: Principal = { name: entry.name, via: "token", unrestricted: false, grants: entry.grants, ...(entry.limits && { limits: entry.limits }) };
      this.#byDigest.set(entry.digest, principal);
      this.#digestOf.set(principal, entry.digest);
    });
  }

  /** Reads the entries of a JSON token file (`{ "tokens": [...] }`); they are checked by the constructor. */
  static readFile(path: string): StaticToken[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      throw new Error(`cannot read the auth file ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const file = TokenFile.safeParse(parsed);
    if (!file.success) throw new Error(`the auth file ${path} must hold { "tokens": [ { "name", "token" or "sha256", "permissions" }, ... ] }`);
    // Entries are checked by the constructor, which names the one at fault.
    return file.data.tokens as StaticToken[];
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** Every token's principal, in the file's order. */
  principals(): IterableIterator<Principal> {
    return this.#byDigest.values();
  }

  /** The principal of a token, or undefined for an unknown one. */
  find(credential: string): Principal | undefined {
    return this.#byDigest.get(sha256(credential));
  }

  /** After a reload: the principal that the token which admitted `principal` here has in `next`, if `next` still holds it. */
  successor(principal: Principal, next: StaticTokens | undefined): Principal | undefined {
    const digest = this.#digestOf.get(principal);
    return digest === undefined || next === undefined ? undefined : next.#byDigest.get(digest);
  }
}

/** The file's outer shape; its entries are checked one by one (TokenEntries). */
const TokenFile = z.object({ tokens: z.array(z.unknown()) });

const TOKEN_LIMIT_NAMES = Object.keys(TOKEN_FILE_LIMITS).join(", ");

/** A token's own limits: known names only (own properties: "toString" or "__proto__" name no limit), each a positive integer. */
const TokenLimit = z.optional(z.int({ error: positiveRule }).check(z.positive({ error: positiveRule })));
const TokenLimits = z.strictObject(
  // Object.fromEntries cannot type a mapped object; the keys are TOKEN_FILE_LIMITS's own, one each.
  Object.fromEntries(Object.keys(TOKEN_FILE_LIMITS).map((name) => [name, TokenLimit])) as { [Name in keyof typeof TOKEN_FILE_LIMITS]: typeof TokenLimit },
  {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `unknown limit ${JSON.stringify(issue.keys[0])}; known limits: ${TOKEN_LIMIT_NAMES}`
        : `must be an object such as { "maxSessions": 5000 }; known limits: ${TOKEN_LIMIT_NAMES}`,
  },
);

/** One entry, checked and turned into what the server keeps: the digest, the grants, the limits by their server names. */
const TokenEntry = z.pipe(
  z.object(
    {
      name: z
        .string({ error: nameRule })
        .check(
          z.refine((name) => name.length >= 1 && name.length <= MAX_PRINCIPAL_NAME_LENGTH, { error: nameRule }),
          z.refine((name) => !name.startsWith(JWT_NAME_PREFIX), {
            error: (issue) => `${JSON.stringify(issue.input)} starts with "${JWT_NAME_PREFIX}", which is reserved for JWT subjects; rename it`,
          }),
        ),
      token: z.optional(z.string({ error: tokenRule }).check(z.minLength(MIN_TOKEN_LENGTH, { error: tokenRule }))),
      sha256: z.optional(z.string({ error: digestRule }).check(z.regex(/^[0-9a-f]{64}$/i, { error: digestRule }))),
      permissions: Grants,
      limits: z.optional(TokenLimits),
    },
    { error: "must be an object { name, token | sha256, permissions }" },
  ),
  z.transform((entry, context) => {
    const digest = entry.token !== undefined ? sha256(entry.token) : entry.sha256?.toLowerCase();
    if (digest === undefined) {
      context.issues.push({ code: "custom", input: entry, message: `needs "token" (at least ${MIN_TOKEN_LENGTH} characters) or "sha256" (64 hex digits)` });
      return z.NEVER;
    }
    return { name: entry.name, digest, grants: entry.permissions.map(toGrant), limits: entry.limits && principalLimits(entry.limits) };
  }),
);

const TokenEntries = z.array(TokenEntry, { error: "must be an array" });

/** The limits of a token file entry under the names the server uses. */
function principalLimits(limits: z.infer<typeof TokenLimits>): Partial<PrincipalLimits> {
  const result: Partial<PrincipalLimits> = {};
  for (const [name, limit] of Object.entries(TOKEN_FILE_LIMITS)) {
    const value = limits[name as keyof typeof TOKEN_FILE_LIMITS];
    if (value !== undefined) result[limit] = value;
  }
  return result;
}

/** " (name)" after an entry's index in a refusal, when the entry has a usable name. */
function nameOf(entries: readonly unknown[], index: number): string {
  const name = (entries[index] as { name?: unknown } | undefined)?.name;
  return typeof name === "string" && name.length > 0 ? ` (${name.slice(0, MAX_PRINCIPAL_NAME_LENGTH)})` : "";
}

function positiveRule(issue: { input: unknown }): string {
  return `must be a positive integer, got ${JSON.stringify(issue.input)}`;
}

function nameRule(): string {
  return `must be a string of 1 to ${MAX_PRINCIPAL_NAME_LENGTH} characters`;
}

function tokenRule(): string {
  return `must be a string of at least ${MIN_TOKEN_LENGTH} characters`;
}

function digestRule(): string {
  return "must be the token's SHA-256 in hex (64 hex digits)";
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
