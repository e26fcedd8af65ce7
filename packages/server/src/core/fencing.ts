import { ErrorCode, type Fence } from "@leasehold/protocol";
import { ServerError } from "../errors.js";
import type { LockTable } from "./lock-table.js";
import type { Lease } from "./model.js";

/**
 * Token issue: one counter orders every change (a key's revision) and every grant (a lock's or a
 * seat's fencing token), so tokens only ever grow and a token can be compared with any revision.
 * It goes on from the stored revision after a restart, so a token is never issued twice.
 */
export class Revisions {
  #revision = 0;

  get current(): number {
    return this.#revision;
  }

  /** The next token or revision: greater than every one before it. */
  next(): number {
    return ++this.#revision;
  }

  /** Goes on from the revision storage kept (restart restore). */
  continueFrom(revision: number): void {
    this.#revision = revision;
  }
}

/**
 * The fenced-write check: a write fenced with `{ lock, token }` goes ahead only while the lock is
 * held with exactly that token by a live lease; otherwise FENCE_FAILED, and nothing is written.
 */
export function checkFence(host: { readonly locks: LockTable; isLive(lease: Lease): boolean }, fence: Fence): void {
  const hold = host.locks.get(fence.lock)?.holders.get(fence.token);
  // The liveness check may end the holder's lease on the spot, which hands the lock on.
  if (hold && host.isLive(hold.lease) && hold.entry.holders.get(fence.token) === hold) return;
  const entry = host.locks.get(fence.lock);
  const now = entry && entry.holders.size > 0 ? `held with token ${[...entry.holders.keys()].join(", ")}` : "not held";
  throw new ServerError(ErrorCode.FENCE_FAILED, `lock "${fence.lock}" is not held with token ${fence.token} (it is ${now}); the write was not applied`);
}
