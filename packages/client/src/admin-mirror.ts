import type { AdminLeaseView, AdminLockView, AdminSessionView, AdminUpdate } from "@leasehold/protocol";

/** What one `apply` changed, by key: what to redraw. `reset` means everything. */
export interface AdminChanges {
  reset: boolean;
  sessions: Set<string>;
  leases: Set<number>;
  locks: Set<string>;
  elections: Set<string>;
}

/**
 * The server's state rebuilt from the admin feed (`client.admin.subscribe()`): apply every push in
 * order and read the maps. Used by the dashboard; handy for any operator tool.
 */
export class AdminMirror {
  readonly sessions = new Map<string, AdminSessionView>();
  readonly leases = new Map<number, AdminLeaseView>();
  /** Locks and semaphores, by name. */
  readonly locks = new Map<string, AdminLockView>();
  readonly elections = new Map<string, AdminLockView>();
  /** True once the whole state has arrived (and after every push that completes a change). */
  synced = false;
  revision = 0;
  /** The server's clock at the last push, and this clock's then: the server's time now is estimated from them. */
  #serverAt = 0;
  #localAt = 0;

  apply(update: AdminUpdate): AdminChanges {
    if (update.reset) {
      this.sessions.clear();
      this.leases.clear();
      this.locks.clear();
      this.elections.clear();
    }
    const changes: AdminChanges = { reset: update.reset, sessions: new Set(), leases: new Set(), locks: new Set(), elections: new Set() };
    for (const session of update.sessions) setAndNote(this.sessions, changes.sessions, session.session, session);
    for (const id of update.sessionsGone) deleteAndNote(this.sessions, changes.sessions, id);
    for (const lease of update.leases) setAndNote(this.leases, changes.leases, lease.lease, lease);
    for (const id of update.leasesGone) deleteAndNote(this.leases, changes.leases, id);
    for (const entry of update.locks) {
      if (entry.kind === "election") setAndNote(this.elections, changes.elections, entry.name, entry);
      else setAndNote(this.locks, changes.locks, entry.name, entry);
    }
    for (const name of update.locksGone) deleteAndNote(this.locks, changes.locks, name);
    for (const name of update.electionsGone) deleteAndNote(this.elections, changes.elections, name);
    this.synced = update.synced;
    this.revision = update.revision;
    this.#serverAt = update.now;
    this.#localAt = performance.now();
    return changes;
  }

  /** The server's clock now (ms), for the age of a `since` or the time left to an `expiresAt`. */
  serverNow(): number {
    return this.#serverAt + (performance.now() - this.#localAt);
  }

  /** A session's own name for itself, or its id when it gave none. */
  agentOf(session: string): string {
    return this.sessions.get(session)?.agent ?? session;
  }
}

function setAndNote<Key, Value>(map: Map<Key, Value>, noted: Set<Key>, key: Key, value: Value): void {
  map.set(key, value);
  noted.add(key);
}

function deleteAndNote<Key, Value>(map: Map<Key, Value>, noted: Set<Key>, key: Key): void {
  map.delete(key);
  noted.add(key);
}
