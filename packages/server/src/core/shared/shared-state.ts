import { ErrorCode, encodedLength, type ParamsOf, type ResultOf, type Value } from "@leasehold/protocol";
import { Counters } from "./counters.js";
import type { Changes } from "../changes.js";
import type { ServerEvents } from "../events.js";
import { checkFence } from "../fencing.js";
import { ServerError } from "../../errors.js";
import { KvStore, type KvEntry } from "./kv-store.js";
import type { LockTable } from "../lock-table.js";
import type { Lease, LockEntry, Session } from "../model.js";
import { Observers } from "./observers.js";
import type { ResolvedOptions } from "../../options.js";
import { Watches } from "./watches.js";
import { counterBytes, keyBytes, type Account, type Accounts } from "../accounts.js";

/** Default and most keys in one `kv.list` page; a page also ends early once its values pass PAGE_BYTES. */
export const PAGE_KEYS = 1_000;
export const PAGE_BYTES = 1024 * 1024;

/** What shared state needs from the coordinator. */
export interface SharedStateHost {
  readonly options: ResolvedOptions;
  /** Where watch overflows are counted. */
  readonly events: ServerEvents;
  readonly revision: number;
  readonly locks: LockTable;
  readonly elections: LockTable;
  nextRevision(): number;
  /** True if the lease is alive now; a lease whose deadline has passed is ended on the spot. */
  isLive(lease: Lease): boolean;
  /** The caller's own live lease, or a coded error. */
  ownLease(session: Session, id: number): Lease;
  /** Where key and counter changes are recorded for storage. */
  readonly changes: Changes;
  /** Each principal's keys, counters and bytes, against its quotas. */
  readonly accounts: Accounts;
}

/**
 * Keys, counters, watches and election observers. Every write checks everything it depends on
 * (lease, fence, expected revision, range) before it changes anything, so that a refused write
 * leaves no trace; one revision counter, shared with lock tokens, orders every change.
 */
export class SharedState {
  readonly kv = new KvStore();
  readonly counters = new Counters();
  readonly watches: Watches;
  readonly observers: Observers;

  constructor(readonly host: SharedStateHost) {
    const options = host.options.watch;
    this.watches = new Watches(options, host.options.clock, (session, prefix) => {
      host.events.watchOverflowed();
      host.options.logger?.warn({ session: session.id, history: options.history.events }, "watch overflow: a watcher fell behind the history kept and was closed");
    });
    this.observers = new Observers(host.elections, host.options.clock, options);
  }

  // Keys

  put(session: Session, request: ParamsOf<"kv.put">): ResultOf<"kv.put"> {
    const lease = request.lease === undefined ? undefined : this.host.ownLease(session, request.lease);
    if (request.fence) checkFence(this.host, request.fence);
    const current = this.#live(request.key);
    if (request.ifRevision !== undefined) this.#checkRevision(request.key, current, request.ifRevision);
    // Sized by staging the value's bytes in the watch history, which keeps them if the put is done (History.stage).
    const bytes = request.key.length + this.watches.history.stage(request.value);
    const owner = session.account;
    // The last writer owns the key: it must have room for it, decided before anything changes.
    const accounts = this.host.accounts;
    if (current?.owner === owner) accounts.check(owner, "bytes", bytes - current.bytes);
    else {
      accounts.check(owner, "keys");
      accounts.check(owner, "bytes", keyBytes(bytes), current ? bytes - current.bytes : keyBytes(bytes));
    }
    const revision = this.host.nextRevision();
    // The key's string as first stored rather than this request's copy: the history holds it through
    // thousands of later changes, and the copy can then die young (BENCHMARKS.md, "Key-value put (round 9)").
    const key = current?.key ?? request.key;
    if (current?.lease && current.lease !== lease) current.lease.deleteKey(key);
    lease?.addKey(key);
    const entry: KvEntry = { key, value: request.value, revision, lease, bytes, owner };
    // An overwrite by the key's owner changes only its bytes: one count, not four.
    if (current?.owner === owner) accounts.add(owner, "bytes", bytes - current.bytes);
    else {
      if (current) this.#uncount(current);
      this.#count(entry);
    }
    this.kv.set(key, entry, current !== undefined);
    this.host.changes.key(key, entry);
    this.watches.publishStaged(key, revision, bytes);
    return { revision };
  }

  get(key: string): ResultOf<"kv.get"> {
    const entry = this.#live(key);
    if (!entry) return { entry: null };
    return { entry: { value: entry.value, revision: entry.revision, lease: entry.lease?.id } };
  }

  delete(request: ParamsOf<"kv.delete">): ResultOf<"kv.delete"> {
    if (request.fence) checkFence(this.host, request.fence);
    const current = this.#live(request.key);
    if (request.ifRevision !== undefined) this.#checkRevision(request.key, current, request.ifRevision);
    if (!current) return { deleted: false, revision: this.host.revision };
    const revision = this.#remove(request.key, current);
    this.watches.notify();
    return { deleted: true, revision };
  }

  list(request: ParamsOf<"kv.list">): ResultOf<"kv.list"> {
    const page = this.kv.page(request.prefix, request.after, request.limit ?? PAGE_KEYS, PAGE_BYTES);
    // Keys of leases whose deadline passed (and whose timer has not fired yet) are gone already.
    const items = page.items
      .filter(({ entry }) => !entry.lease || this.host.isLive(entry.lease))
      .map(({ key, entry }) => ({ key, value: entry.value, revision: entry.revision, lease: entry.lease?.id }));
    return { items, next: page.next, revision: this.host.revision };
  }

  /** Deletes every key bound to an ending lease, as one batch of watch events. */
  dropLease(lease: Lease): void {
    let removed = 0;
    for (const key of lease.keys) {
      const entry = this.kv.get(key);
      if (entry?.lease === lease) {
        this.#remove(key, entry);
        removed++;
      }
    }
    lease.clearKeys();
    if (removed > 0) this.watches.notify();
  }

  /** Puts back a key read from storage (no revision spent, no watch event), counted against its owner. */
  restoreKey(key: string, value: Value, revision: number, lease: Lease | undefined, owner: Account): void {
    lease?.addKey(key);
    const entry: KvEntry = { key, value, revision, lease, bytes: key.length + encodedLength(value), owner };
    this.#count(entry);
    this.kv.set(key, entry);
  }

  // Counters

  counterAdd(session: Session, request: ParamsOf<"counter.add">): ResultOf<"counter.add"> {
    const value = this.counters.sum(request.name, request.delta);
    this.#setCounter(session.account, request.name, value);
    return { value, revision: this.host.nextRevision() };
  }

  counterSet(session: Session, request: ParamsOf<"counter.set">): ResultOf<"counter.set"> {
    this.#setCounter(session.account, request.name, request.value);
    return { revision: this.host.nextRevision() };
  }

  counterCas(session: Session, request: ParamsOf<"counter.cas">): ResultOf<"counter.cas"> {
    const current = this.counters.get(request.name);
    if (current !== request.expect) return { ok: false, value: current };
    this.#setCounter(session.account, request.name, request.value);
    this.host.nextRevision();
    return { ok: true, value: request.value };
  }

  // Elections

  /** A lock-table entry's holders changed (hook of both tables). */
  changed(entry: LockEntry): void {
    this.observers.changed(entry);
  }

  // Helpers

  #checkRevision(key: string, current: KvEntry | undefined, expected: number): void {
    const actual = current?.revision ?? 0;
    if (actual === expected) return;
    const found = current ? `is at revision ${actual}` : "does not exist";
    throw new ServerError(ErrorCode.REVISION_MISMATCH, `"${key}" ${found}, not ${expected === 0 ? "absent" : `at revision ${expected}`}; the write was not applied`);
  }

  /** The key's entry, unless it is bound to a lease that has ended (which deletes it now). */
  #live(key: string): KvEntry | undefined {
    const entry = this.kv.get(key);
    if (entry?.lease && !this.host.isLive(entry.lease)) return this.kv.get(key);
    return entry;
  }

  /** Puts back a counter read from storage, counted against its owner. */
  restoreCounter(name: string, value: number, owner: Account): void {
    this.counters.set(name, value, owner);
    this.host.accounts.add(owner, "counters");
    this.host.accounts.add(owner, "bytes", counterBytes(name));
  }

  /**
   * A counter made non-zero counts against the principal that made it so (refused first if it has
   * no room); one back at 0 is forgotten and given back to its owner. Changes in between count nothing.
   */
  #setCounter(account: Account, name: string, value: number): void {
    const accounts = this.host.accounts;
    const owner = this.counters.ownerOf(name);
    if (owner === undefined && value !== 0) {
      accounts.check(account, "counters");
      accounts.check(account, "bytes", counterBytes(name));
      accounts.add(account, "counters");
      accounts.add(account, "bytes", counterBytes(name));
    } else if (owner !== undefined && value === 0) {
      accounts.give(owner, "counters");
      accounts.give(owner, "bytes", counterBytes(name));
    }
    this.counters.set(name, value, account);
    this.host.changes.counter(name, value, owner ?? account);
  }

  #count(entry: KvEntry): void {
    this.host.accounts.add(entry.owner, "keys");
    this.host.accounts.add(entry.owner, "bytes", keyBytes(entry.bytes));
  }

  #uncount(entry: KvEntry): void {
    this.host.accounts.give(entry.owner, "keys");
    this.host.accounts.give(entry.owner, "bytes", keyBytes(entry.bytes));
  }

  /** Deletes the key and records the change in the watches' history (the caller notifies them); its revision. */
  #remove(key: string, entry: KvEntry): number {
    this.kv.delete(key);
    this.#uncount(entry);
    this.host.changes.key(key, undefined);
    entry.lease?.deleteKey(key);
    const revision = this.host.nextRevision();
    this.watches.record(key, undefined, revision, key.length + 16);
    return revision;
  }
}
