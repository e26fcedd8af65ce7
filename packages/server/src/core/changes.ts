import type { Account } from "./accounts.js";
import type { Hold, Lease, LockDelay, LockEntry, Session, Waiter } from "./model.js";
import type { KvEntry } from "./shared/kv-store.js";

/**
 * Where the rules report every change of stored state: the persistence layer implements it (its
 * journal turns the calls into rows for the next commit), so that core/ never knows about storage.
 */
export interface Changes {
  session(session: Session): void;
  sessionGone(session: Session): void;
  /** A request arrived; its id is stored with the next batch that has changes. */
  requested(session: Session): void;
  lease(lease: Lease): void;
  leaseGone(lease: Lease): void;
  hold(hold: Hold): void;
  holdGone(hold: Hold): void;
  /** A hold was lost with a lock-delay: its row stays, with the delay's end (wall-clock ms), until `delayGone`. */
  holdDelayed(hold: Hold, wallUntil: number): void;
  /** A lost hold's lock-delay ended, or a steal cleared it. */
  delayGone(entry: LockEntry, delay: LockDelay): void;
  wait(waiter: Waiter): void;
  waitGone(waiter: Waiter): void;
  /** A key's new entry, or undefined once it is deleted. */
  key(key: string, entry: KvEntry | undefined): void;
  counter(name: string, value: number, owner: Account): void;
}

/** Changes that go nowhere: a coordinator without storage (unit tests). */
export const UNRECORDED: Changes = {
  session() {},
  sessionGone() {},
  requested() {},
  lease() {},
  leaseGone() {},
  hold() {},
  holdGone() {},
  holdDelayed() {},
  delayGone() {},
  wait() {},
  waitGone() {},
  key() {},
  counter() {},
};
