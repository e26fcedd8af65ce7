import { ErrorCode, encodedLength, type Limits, type Value } from "@leasehold/protocol";
import { ServerError } from "../errors.js";

/**
 * What each principal holds, so that no tenant can fill the server for everyone else: sessions
 * (detached ones included, which is what a parked session is), leases, keys, counters and stored
 * bytes, and the longest lease TTL it may ask for. Every count is changed in O(1) at the point where
 * the resource is taken or given back; a refusal comes before anything changes, and nothing that
 * already exists is ever taken away (a lease always runs to its TTL).
 *
 * An account is keyed by the authenticated principal (`token:NAME`, `jwt:SUB`), or by the remote IP
 * address when authentication is off (`address:IP`). Accounts whose counts are all zero are forgotten.
 */

/** The limits that apply per principal (the token file may override each of them per token). */
export const PRINCIPAL_LIMITS = ["maxSessionsPerPrincipal", "maxLeasesPerPrincipal", "maxKeysPerPrincipal", "maxCountersPerPrincipal", "maxBytesPerPrincipal", "maxTtlMs"] as const;
export type PrincipalLimits = Pick<Limits, (typeof PRINCIPAL_LIMITS)[number]>;

/** The per-principal limits of a server's limits: the defaults of every account. */
export function principalDefaults(limits: Limits): PrincipalLimits {
  return Object.fromEntries(PRINCIPAL_LIMITS.map((name) => [name, limits[name]])) as PrincipalLimits;
}

/** The account of rows stored before principals were kept (schema version 1): counted, and bound by the defaults. */
export const LEGACY_ACCOUNT = "legacy:stored-before-quotas";

/**
 * What each stored row (a key, a counter, a held or queued election value) counts besides its
 * content: SQLite's own cost of a row, its primary-key index entry included. Measured: 20,000 keys of
 * about 28 content bytes took 90 bytes each in the database file; with 64 counted per row the file
 * stayed below the logical count (1.8 MB for 1.85 MB counted), and at 1 KB and 16 KB values it was
 * 1.38 and 1.04 times the content alone. So tiny rows cannot fill the file behind the quota's back.
 */
export const STORED_ROW_BYTES = 64;

/** Logical bytes of a stored key: its length and its value's msgpack size (`KvEntry.bytes`), and the row. */
export function keyBytes(entryBytes: number): number {
  return entryBytes + STORED_ROW_BYTES;
}

/** Logical bytes of an election candidate's value, held or queued. */
export function valueBytes(value: Value): number {
  return encodedLength(value) + STORED_ROW_BYTES;
}

/** Logical bytes of a counter: its name, a 64-bit number, and the row. */
export function counterBytes(name: string): number {
  return name.length + 8 + STORED_ROW_BYTES;
}

/** What an account counts. `bytes` is logical: keys with their encoded values, counter names, election candidates' values, each with STORED_ROW_BYTES. */
export type Counted = "sessions" | "leases" | "keys" | "counters" | "bytes";

const LIMIT_OF: Readonly<Record<Counted, keyof PrincipalLimits>> = {
  sessions: "maxSessionsPerPrincipal",
  leases: "maxLeasesPerPrincipal",
  keys: "maxKeysPerPrincipal",
  counters: "maxCountersPerPrincipal",
  bytes: "maxBytesPerPrincipal",
};

/** One principal's counts and limits. */
export class Account {
  sessions = 0;
  leases = 0;
  keys = 0;
  counters = 0;
  bytes = 0;

  constructor(
    readonly key: string,
    /** The defaults with the principal's overrides; replaced when the principal next connects (a token file may change). */
    public limits: PrincipalLimits,
  ) {}

  get idle(): boolean {
    return this.sessions === 0 && this.leases === 0 && this.keys === 0 && this.counters === 0 && this.bytes === 0;
  }
}

export class Accounts {
  readonly #byKey = new Map<string, Account>();
  #totalBytes = 0;

  constructor(
    readonly defaults: PrincipalLimits,
    /** The server-wide logical byte quota (`--max-data-bytes`); undefined: none. */
    readonly maxTotalBytes: number | undefined,
  ) {}

  /** The account under `key`, made if absent; `overrides` (a token's own limits) replace the defaults. */
  open(key: string, overrides?: Partial<PrincipalLimits>): Account {
    let account = this.#byKey.get(key);
    if (!account) {
      account = new Account(key, this.defaults);
      this.#byKey.set(key, account);
    }
    this.#relimit(account, overrides);
    return account;
  }

  /**
   * A reloaded token file gives the account under `key`, if there is one, its token's limits now: its
   * connected sessions are held to them from their next request, not only after a reconnect.
   */
  relimit(key: string, overrides: Partial<PrincipalLimits> | undefined): void {
    const account = this.#byKey.get(key);
    if (account) this.#relimit(account, overrides);
  }

  #relimit(account: Account, overrides: Partial<PrincipalLimits> | undefined): void {
    account.limits = overrides ? { ...this.defaults, ...overrides } : this.defaults;
  }

  get(key: string): Account | undefined {
    return this.#byKey.get(key);
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** Logical bytes stored by everyone. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /**
   * Throws LIMIT_EXCEEDED (counts) or QUOTA_EXCEEDED (bytes, the principal's or the server's) when
   * `amount` more would pass a limit; changes nothing. Giving back (a negative amount) always passes.
   * `serverGrowth` is what the server's total grows by, when bytes change hands (an overwrite by
   * another principal moves the old value's bytes off its owner's account).
   */
  check(account: Account, what: Counted, amount = 1, serverGrowth = amount): void {
    const limit = account.limits[LIMIT_OF[what]];
    const used = account[what];
    if (what === "bytes") {
      if (amount > 0 && used + amount > limit) {
        throw new ServerError(
          ErrorCode.QUOTA_EXCEEDED,
          `${describe(account)} stores ${used} bytes; ${amount} more would pass its quota of ${limit}; delete keys or counters first`,
        );
      }
      if (this.maxTotalBytes !== undefined && serverGrowth > 0 && this.#totalBytes + serverGrowth > this.maxTotalBytes) {
        throw new ServerError(
          ErrorCode.QUOTA_EXCEEDED,
          `the server stores ${this.#totalBytes} bytes; ${serverGrowth} more would pass its data quota of ${this.maxTotalBytes} (--max-data-bytes); delete data or ask the operator for more`,
        );
      }
      return;
    }
    if (amount > 0 && used + amount > limit) {
      throw new ServerError(ErrorCode.LIMIT_EXCEEDED, `${describe(account)} holds ${used} ${what}, the most allowed (${limit}); give some back first`);
    }
  }

  /** `check`, then `add`. */
  take(account: Account, what: Counted, amount = 1): void {
    this.check(account, what, amount);
    this.add(account, what, amount);
  }

  /** Counts without checking: what already exists (restored from storage, a queued value becoming a held one). */
  add(account: Account, what: Counted, amount = 1): void {
    account[what] += amount;
    if (what === "bytes") this.#totalBytes += amount;
  }

  /** Gives back what `take` or `add` counted; an account with nothing left is forgotten. */
  give(account: Account, what: Counted, amount = 1): void {
    this.add(account, what, -amount);
    if (account.idle && this.#byKey.get(account.key) === account) this.#byKey.delete(account.key);
  }
}

/** Who opens a session, in the terms the coordinator needs. */
export interface SessionOwner {
  /** Its `principalId` (auth/session-owner.ts): only the same principal may resume the session. */
  readonly principal: string;
  /** The key of the account it counts against. */
  readonly account: string;
  /** The principal's own limits over the defaults. */
  readonly limits: Partial<PrincipalLimits> | undefined;
  /** May use the sessions reserved for operators (the admin right over every name). */
  readonly admin: boolean;
}

function describe(account: Account): string {
  return account.key.startsWith("address:") ? `the address ${account.key.slice("address:".length)}` : `the principal ${account.key}`;
}
