import { BOUNDS, ErrorCode, storedValueProblem, type Fence, type Value } from "@leasehold/protocol";
import type { Calls } from "./calls.js";
import { BadRequestError } from "./errors.js";
import type { Subscriptions } from "./subscriptions.js";
import { Watch, type WatchOptions } from "./watch.js";

export type { Fence };

export interface PutOptions {
  /** Bind the key to this lease (one of this client's own): it is deleted when the lease ends. */
  lease?: number;
  /** Compare-and-set: write only if the key is at this revision; 0 means "only if the key does not exist". ConflictError otherwise. */
  ifRevision?: number;
  /** Write only while this lock is held with exactly this token; FenceError otherwise. */
  fence?: Fence;
}

export interface DeleteOptions {
  ifRevision?: number;
  fence?: Fence;
}

export interface Entry {
  value: Value;
  /** The revision of the change that wrote this value. */
  revision: number;
  /** The lease the key is bound to, if any. */
  lease?: number;
}

export interface ListItem extends Entry {
  key: string;
}

/**
 * Keys and values: `client.put`, `get`, `delete`, `list` and `watch` delegate here. Every write
 * returns the revision it was given; a refused write (fence, revision, lease, size) changed nothing.
 */
export class KeyValue {
  constructor(
    readonly calls: Calls,
    readonly subscriptions: Subscriptions,
  ) {}

  /**
   * Not `async`, and the result as the reply reader checked it (exactly `{ revision }`), not a copy: an
   * async function's own promise and its await were a promise and a turn of the microtask queue more
   * per put. What throws before the request is sent (a value that cannot be stored) still comes back
   * as a rejection. In a loop of puts through the request table (encode and frame included), 1,375 →
   * 1,222 ns (medians of 5 alternating runs; BENCHMARKS.md, "Key-value put (round 12)").
   */
  put(key: string, value: Value, options: PutOptions = {}): Promise<{ revision: number }> {
    try {
      checkValue(value);
      return this.calls.call("kv.put", { key, value, lease: options.lease, ifRevision: options.ifRevision, fence: options.fence }).result;
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  async get(key: string): Promise<Entry | null> {
    const { entry } = await this.calls.call("kv.get", { key }).result;
    if (!entry) return null;
    return entry.lease === undefined ? { value: entry.value, revision: entry.revision } : { value: entry.value, revision: entry.revision, lease: entry.lease };
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<{ deleted: boolean; revision: number }> {
    const result = await this.calls.call("kv.delete", { key, ifRevision: options.ifRevision, fence: options.fence }).result;
    return { deleted: result.deleted, revision: result.revision };
  }

  /**
   * Every key under `prefix`, in key order, following the server's pages. Pages are read one after
   * another, not as one snapshot: a key changed meanwhile shows its value at the time of its page.
   */
  async list(prefix: string): Promise<ListItem[]> {
    const items: ListItem[] = [];
    let after: string | undefined;
    do {
      const page = await this.calls.call("kv.list", { prefix, after }).result;
      for (const item of page.items) {
        items.push(item.lease === undefined ? { key: item.key, value: item.value, revision: item.revision } : { ...item, lease: item.lease });
      }
      after = page.next;
    } while (after !== undefined);
    return items;
  }

  watch(prefix: string, options: WatchOptions = {}): Watch {
    return new Watch(this.subscriptions, prefix, options);
  }
}

/** Deepest nesting of arrays and objects in a value: far below what any msgpack reader's stack can take. */
export const MAX_VALUE_DEPTH = BOUNDS.maxValueDepth;

/**
 * Refuses, before anything is sent, a value that the server would refuse or that would not come back
 * as it went (see `storedValueProblem` in the protocol package, the one check of a value).
 */
export function checkValue(value: unknown): asserts value is Value {
  const problem = storedValueProblem(value);
  if (problem) throw new BadRequestError(ErrorCode.BAD_REQUEST, `the value cannot be stored: ${problem}`);
}
