/**
 * A lock's recent history on the dashboard: who held it and for how long, its last GRANTS_KEPT
 * grants, told from the admin feed's changes (a token that appears is a grant, one that goes is its
 * end). Kept in the page's memory only, from when the page opened: for at most NAMES_KEPT names,
 * the ones that changed last, so that a server with 100,000 busy locks costs the page a bounded few MiB.
 */
import type { AdminLockView, AdminUpdate } from "@leasehold/client";

const GRANTS_KEPT = 40;
const NAMES_KEPT = 2_000;

/** One grant as the page saw it. */
export interface Grant {
  readonly token: number;
  readonly holder: string;
  readonly mode: string;
  /** Server ms of the grant. */
  readonly since: number;
  /** Server ms when the page saw it end; undefined while held. */
  endedAt: number | undefined;
}

type Table = "locks" | "elections";

export class LockHistory {
  /** Grants by table and name, oldest first; names in the order they last changed. */
  readonly #grants = new Map<string, Grant[]>();

  /**
   * Notes the grants an update shows begun and ended. `nameOf` names a holder's session; `now` is the
   * server's clock. An entry lists its first 100 holders: a semaphore with more shows the rest as ended.
   */
  record(update: AdminUpdate, nameOf: (session: string) => string, now: number): void {
    for (const entry of update.locks) this.#change(entry.kind === "election" ? "elections" : "locks", entry.name, entry, nameOf, now);
    for (const name of update.locksGone) this.#change("locks", name, undefined, nameOf, now);
    for (const name of update.electionsGone) this.#change("elections", name, undefined, nameOf, now);
  }

  /** The grants of a name seen by this page, newest first. */
  of(table: Table, name: string): readonly Grant[] {
    return [...(this.#grants.get(table + ":" + name) ?? [])].reverse();
  }

  #change(table: Table, name: string, after: AdminLockView | undefined, nameOf: (session: string) => string, now: number): void {
    const key = table + ":" + name;
    let grants = this.#grants.get(key);
    const held = new Set(after?.holders.map((hold) => hold.token) ?? []);
    if (grants) {
      for (const grant of grants) if (grant.endedAt === undefined && !held.has(grant.token)) grant.endedAt = now;
    }
    for (const hold of after?.holders ?? []) {
      if (grants?.some((grant) => grant.token === hold.token)) continue;
      grants ??= [];
      grants.push({ token: hold.token, holder: nameOf(hold.session), mode: hold.mode, since: hold.since, endedAt: undefined });
      if (grants.length > GRANTS_KEPT) grants.shift();
    }
    if (!grants) return;
    // Moved to the end: the names changed last are kept.
    this.#grants.delete(key);
    this.#grants.set(key, grants);
    if (this.#grants.size > NAMES_KEPT) this.#grants.delete(this.#grants.keys().next().value!);
  }
}
