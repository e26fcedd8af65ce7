import type { Value } from "@leasehold/protocol";
import type { Account } from "../accounts.js";
import type { Lease } from "../model.js";

export interface KvEntry {
  /** The key as first stored: a later put of the same key keeps this string (see SharedState.put). */
  readonly key: string;
  readonly value: Value;
  readonly revision: number;
  /** The lease the key is bound to: it is deleted when the lease ends. */
  readonly lease: Lease | undefined;
  /** The value's msgpack size plus its key, for history and page budgets. */
  readonly bytes: number;
  /** The account of the key's last writer, whose key and byte quotas it counts against. */
  readonly owner: Account;
}

export interface Page {
  readonly items: { key: string; entry: KvEntry }[];
  /** Present when more keys under the prefix follow the last item. */
  readonly next: string | undefined;
}

/**
 * Keys and their current values, kept in key order as well (a sorted array beside the map) so that
 * a prefix lists in order and pages resume exactly after the last key of the previous page.
 * Insertion into the array costs a memmove; for the key counts a lock service holds that is cheap.
 */
export class KvStore {
  readonly #entries = new Map<string, KvEntry>();
  readonly #sorted: string[] = [];

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): KvEntry | undefined {
    return this.#entries.get(key);
  }

  /** `exists`: the caller just read the key's entry, so the map need not be asked again. */
  set(key: string, entry: KvEntry, exists = this.#entries.has(key)): void {
    if (!exists) this.#sorted.splice(this.#lowerBound(key), 0, key);
    this.#entries.set(key, entry);
  }

  delete(key: string): boolean {
    if (!this.#entries.delete(key)) return false;
    this.#sorted.splice(this.#lowerBound(key), 1);
    return true;
  }

  /** Up to `limit` keys under `prefix` that sort after `after`, stopping early once `maxBytes` is passed. */
  page(prefix: string, after: string | undefined, limit: number, maxBytes: number): Page {
    const items: { key: string; entry: KvEntry }[] = [];
    let bytes = 0;
    let index = after === undefined || after < prefix ? this.#lowerBound(prefix) : this.#upperBound(after);
    for (; index < this.#sorted.length; index++) {
      const key = this.#sorted[index] as string;
      if (!key.startsWith(prefix)) break;
      if (items.length >= limit || (items.length > 0 && bytes >= maxBytes)) {
        return { items, next: items[items.length - 1]?.key };
      }
      const entry = this.#entries.get(key) as KvEntry;
      items.push({ key, entry });
      bytes += entry.bytes;
    }
    return { items, next: undefined };
  }

  /** First index whose key is >= `key`. */
  #lowerBound(key: string): number {
    let low = 0;
    let high = this.#sorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#sorted[middle] as string) < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** First index whose key is > `key`. */
  #upperBound(key: string): number {
    let low = 0;
    let high = this.#sorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#sorted[middle] as string) <= key) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
