import { ErrorCode, type LockMode, type ResultOf } from "@leasehold/protocol";
import { asyncDispose } from "./dispose.js";
import { onAbort } from "./abort.js";
import type { Calls } from "./calls.js";
import { LeaseExpiredError, LeaseholdError, ReleasedError } from "./errors.js";
import type { Lease, LeaseBound } from "./leases.js";
import { requestArguments, type RequestCallback } from "./web-locks.js";

export interface AcquireOptions {
  /** false or absent: answer at once. true: queue until granted. A number: queue at most that many ms. */
  wait?: boolean | number;
  /** Aborting it withdraws a queued request; `acquire` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** "exclusive" (default) or "shared": many shared holders at once, or one exclusive holder. */
  mode?: LockMode;
  /**
   * Take the (exclusive) lock from its holders at once; their signals abort with LOCK_STOLEN, but
   * only after the steal is granted: fence with the token. Needs the `steal` right (admins have it).
   */
  steal?: boolean;
  /**
   * Lock-delay, in ms: if this hold is lost rather than released (the lease expires, or an admin
   * revokes it), the server grants the lock to nobody else for this long, for resources that cannot
   * check a fencing token and a holder that may not know yet. Default: the server's (0 unless set).
   */
  lockDelayMs?: number;
}

/**
 * The outcome of `acquire`. When `acquired`, `token` is the fencing token of this grant and `signal`
 * aborts the moment the lock is known lost (`signal.reason` says why). A lost or released handle
 * never becomes valid again.
 */
export class Lock {
  // The signal and its reason are made only when someone looks: a lock taken and released in a loop
  // then costs no AbortController and no Error (whose stack trace is the expensive part).
  #controller: AbortController | undefined;
  #lostReason: LeaseholdError | (() => LeaseholdError) | undefined;
  #release: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly leaseId: number,
    readonly acquired: boolean,
    readonly token: number | undefined,
    readonly owner: { calls: Calls; lease: Lease | undefined; forget(lock: Lock): void },
    /** As asked for ("exclusive" unless "shared"), like a Web Locks lock's `mode`. */
    readonly mode: LockMode = "exclusive",
  ) {
    if (!acquired) this.#lostReason = () => new LeaseholdError(ErrorCode.LOCK_LOST, `"${name}" was not acquired`);
  }

  /** Checks the lease's deadline first (see `Liveness.checkDue`): read after a pause, it is already aborted. */
  get signal(): AbortSignal {
    this.owner.lease?.liveness.checkDue();
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#lostReason !== undefined) this.#controller.abort(this.#reason());
    }
    return this.#controller.signal;
  }

  /** True while the lock is held as far as this client can tell; checks the lease's deadline first. */
  get held(): boolean {
    this.owner.lease?.liveness.checkDue();
    return this.acquired && this.#lostReason === undefined;
  }

  /** Called when the lease ends or the server says the lock was taken away. */
  lose(reason: LeaseholdError | (() => LeaseholdError)): void {
    if (this.#lostReason !== undefined) return;
    this.#lostReason = reason;
    this.owner.forget(this);
    this.#controller?.abort(this.#reason());
  }

  #reason(): LeaseholdError {
    if (typeof this.#lostReason === "function") this.#lostReason = this.#lostReason();
    return this.#lostReason as LeaseholdError;
  }

  /** `await using lock = await client.locks.acquire(...)` releases the lock at the end of the block. */
  [asyncDispose](): Promise<void> {
    return this.release();
  }

  /** Releases the lock; the next waiter is granted at once. Safe to call more than once, and after a loss. */
  release(): Promise<void> {
    this.#release ??= this.#doRelease();
    return this.#release;
  }

  async #doRelease(): Promise<void> {
    if (!this.held || this.token === undefined) return;
    this.lose(() => new ReleasedError(ErrorCode.RELEASED, `"${this.name}" was released by its holder`));
    try {
      await this.owner.calls.call("lock.release", { name: this.name, token: this.token }).result;
    } catch (error) {
      // A lock whose session or lease is already gone needs no release; anything else is the caller's business.
      if (error instanceof LeaseholdError && (error.code === ErrorCode.SESSION_EXPIRED || error.code === ErrorCode.CLIENT_CLOSED)) return;
      throw error;
    }
  }
}

/** Options of `locks.request`, as in the Web Locks API. */
export interface RequestOptions {
  mode?: LockMode;
  /** Do not wait: call back with `null` when the lock is not free right now. */
  ifAvailable?: boolean;
  /** Aborting it while waiting rejects `request` with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Take the lock at once from whoever holds it (their `request` rejects with an "AbortError"
   * DOMException, their signal aborts with LOCK_STOLEN); queued requests keep waiting. Not with
   * `ifAvailable`, `signal` or shared mode. Across machines the holder cannot be told before the
   * lock changes hands: the one exception to "loss told first", which only fencing covers.
   */
  steal?: boolean;
  /** The lease to hold the lock under; default: the client's own kept-alive session lease. */
  leaseId?: number;
}

/** What `locks.query` answers, as the Web Locks API's `LockManagerSnapshot`. */
export type LockSnapshot = ResultOf<"lock.query">;

/** `client.locks`. */
export class Locks {
  constructor(
    readonly calls: Calls,
    readonly leases: Map<number, Lease>,
    readonly byToken: Map<number, LeaseBound>,
    readonly sessionLease: () => Promise<Lease>,
  ) {}

  /**
   * `navigator.locks.request`, across tabs, processes and machines: holds `name` for as long as
   * `callback` runs and releases it afterwards, also when the callback throws. The callback gets the
   * lock (with `signal` and `token`: check the signal in long work, pass the token to fenced writes),
   * or `null` with `ifAvailable` when the lock is taken. The arguments are checked before anything
   * is queued, with the Web Locks API's errors (see `requestArguments`).
   */
  request<T>(name: string, callback: RequestCallback<T>): Promise<T>;
  request<T>(name: string, options: RequestOptions, callback: RequestCallback<T>): Promise<T>;
  async request<T>(...args: unknown[]): Promise<T> {
    const { name, options, callback } = requestArguments<T>(args);
    const leaseId = options.leaseId ?? (await this.sessionLease()).id;
    const lock = await this.acquire(name, leaseId, { wait: !options.ifAvailable && !options.steal, signal: options.signal, mode: options.mode, steal: options.steal });
    if (!lock.acquired) return callback(null);
    try {
      // As in the Web Locks API, a stolen lock's request rejects at once, whatever its callback still does.
      return await Promise.race([callback(lock), rejectWhenStolen(lock)]);
    } finally {
      await lock.release().catch(() => {});
    }
  }

  /**
   * `navigator.locks.query()`, across clients: who holds and who waits for the locks whose names
   * start with `prefix` (semaphores aside), `held` in grant order and `pending` in queue order, each
   * as `{ name, mode, clientId }` with one `clientId` per client (its session id; see `sessionId`).
   * With authentication on, only names the principal holds the `lock` right over are listed.
   */
  async query(prefix = ""): Promise<LockSnapshot> {
    return this.calls.call("lock.query", { prefix }).result;
  }

  /**
   * Acquires `name` under the lease `leaseId`. A try (no `wait`) answers at once; a wait joins the
   * lock's FIFO queue and resolves when granted (pushed by the server, no polling), or with
   * `acquired: false` when the wait runs out. An aborted `signal` rejects with its reason.
   */
  async acquire(name: string, leaseId: number, options: AcquireOptions = {}, /** Semaphores only: see `client.semaphores`. */ limit?: number): Promise<Lock> {
    options.signal?.throwIfAborted();
    const wait = options.wait === true ? true : typeof options.wait === "number" ? options.wait : 0;
    const call = this.calls.call("lock.acquire", { name, lease: leaseId, wait, mode: options.mode, limit, steal: options.steal || undefined, lockDelay: options.lockDelayMs });
    const signal = options.signal;
    // The closure only when there is a signal to listen to: a plain try-acquire in a loop makes none.
    const stopListening =
      signal === undefined
        ? undefined
        : onAbort(signal, () => {
            this.calls.abandon(call.id, signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)), (late) => {
              // The grant crossed our cancel on the wire: give the lock straight back.
              const result = late as { acquired: boolean; token?: number };
              if (result.acquired && result.token !== undefined) void this.calls.call("lock.release", { name, token: result.token }).result.catch(() => {});
            });
            if (wait !== 0) void this.calls.call("cancel", { target: call.id }).result.catch(() => {});
          });
    try {
      const result = await call.result;
      return this.handle(name, leaseId, result.acquired ? result.token : undefined, options.mode);
    } finally {
      stopListening?.();
    }
  }

  /** Builds the handle for a grant (or a refusal when `token` is undefined). */
  handle(name: string, leaseId: number, token: number | undefined, mode?: LockMode): Lock {
    const lease = this.leases.get(leaseId);
    const owner = {
      calls: this.calls,
      lease,
      forget: (gone: Lock) => {
        if (gone.token !== undefined) this.byToken.delete(gone.token);
        lease?.locks.delete(gone);
      },
    };
    const lock = new Lock(name, leaseId, token !== undefined, token, owner, mode);
    if (token === undefined) return lock;
    this.byToken.set(token, lock);
    if (lease && !lease.lost) lease.locks.add(lock);
    else lock.lose(new LeaseExpiredError(ErrorCode.LEASE_EXPIRED, `lease ${leaseId} ended before the grant of "${name}" arrived`));
    return lock;
  }
}

/** Rejects with an "AbortError" DOMException when `lock` is stolen; never settles otherwise. */
function rejectWhenStolen(lock: Lock): Promise<never> {
  return new Promise((_, reject) => {
    const signal = lock.signal;
    const onAbort = () => {
      const reason: unknown = signal.reason;
      if (reason instanceof LeaseholdError && reason.code === ErrorCode.LOCK_STOLEN) reject(new DOMException(reason.message, "AbortError"));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}
