import type { Lock, Locks } from "./locks.js";

export interface SemaphoreOptions {
  /** Most holders at once. Every user of the name must pass the same limit (ConflictError with LIMIT_MISMATCH otherwise). */
  limit: number;
  /** false or absent: answer at once. true: queue until a slot is free. A number: queue at most that many ms. */
  wait?: boolean | number;
  /** Aborting it withdraws a queued request; `acquire` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** The slot's lock-delay in ms (see `AcquireOptions.lockDelayMs`). */
  lockDelayMs?: number;
}

/**
 * `client.semaphores`: at most `limit` holders of a name at once, granted first come, first served.
 * A slot is held like a lock: the same `Lock` handle, with a fencing token, a `signal` that aborts
 * when the slot is lost with its lease, and `release()`.
 */
export class Semaphores {
  constructor(readonly locks: Locks) {}

  acquire(name: string, leaseId: number, options: SemaphoreOptions): Promise<Lock> {
    return this.locks.acquire(name, leaseId, { wait: options.wait, signal: options.signal, lockDelayMs: options.lockDelayMs }, options.limit);
  }
}
