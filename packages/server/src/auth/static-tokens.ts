import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseTokenLimits } from "../core/accounts.js";
import { JWT_NAME_PREFIX, parseGrants, type Grant, type Principal } from "./permissions.js";

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

  constructor(entries: readonly StaticToken[], where = "auth tokens") {
    if (!Array.isArray(entries)) throw new Error(`${where}: "tokens" must be an array`);
    const indexByName = new Map<string, number>();
    entries.forEach((entry, index) => {
      const at = `${where}: tokens[${index}]`;
      if (typeof entry !== "object" || entry === null) throw new Error(`${at} must be an object { name, token | sha256, permissions }`);
      checkName(entry.name, at, indexByName.get(entry.name));
      indexByName.set(entry.name, index);
      const digest = digestOf(entry, at);
      if (this.#byDigest.has(digest)) throw new Error(`${at}: the same token appears twice`);
      const grants: Grant[] = parseGrants(entry.permissions, `${at} (${entry.name})`);
      const limits = parseTokenLimits(entry.limits, `${at} (${entry.name})`);
      const principal: Principal = { name: entry.name, via: "token", unrestricted: false, grants, ...(limits && { limits }) };
      this.#byDigest.set(digest, principal);
      this.#digestOf.set(principal, digest);
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
    const tokens = (parsed as { tokens?: unknown } | null)?.tokens;
    if (!Array.isArray(tokens)) throw new Error(`the auth file ${path} must hold { "tokens": [ { "name", "token" or "sha256", "permissions" }, ... ] }`);
    return tokens as StaticToken[];
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

/**
 * A session may be resumed by the principal of the same name (guard.ts), so two entries of one name
 * could take over each other's sessions; and `jwt:` is where JWT subjects live.
 */
function checkName(name: unknown, at: string, earlier: number | undefined): void {
  if (typeof name !== "string" || name.length === 0 || name.length > 128) throw new Error(`${at}.name must be a string of 1 to 128 characters`);
  if (earlier !== undefined) {
    throw new Error(`${at} is named "${name}" like tokens[${earlier}]: names must be unique (a session may be resumed by any token of its name); rename one of them`);
  }
  if (name.startsWith(JWT_NAME_PREFIX)) throw new Error(`${at}.name "${name}" starts with "${JWT_NAME_PREFIX}", which is reserved for JWT subjects; rename it`);
}

function digestOf(entry: StaticToken, at: string): string {
  if (typeof entry.token === "string") {
    if (entry.token.length < MIN_TOKEN_LENGTH) throw new Error(`${at}.token must be at least ${MIN_TOKEN_LENGTH} characters`);
    return sha256(entry.token);
  }
  if (typeof entry.sha256 === "string" && /^[0-9a-f]{64}$/i.test(entry.sha256)) return entry.sha256.toLowerCase();
  throw new Error(`${at} needs "token" (at least ${MIN_TOKEN_LENGTH} characters) or "sha256" (64 hex digits)`);
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
