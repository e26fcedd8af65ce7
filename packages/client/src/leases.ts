import { ErrorCode } from "@leasehold/protocol";
import type { Calls } from "./calls.js";
import { LeaseExpiredError, type LeaseholdError } from "./errors.js";
import type { Liveness } from "./liveness.js";
import { asyncDispose } from "./dispose.js";

/** Anything held under a lease (a lock, a semaphore slot, an election term): lost together with it. */
export interface LeaseBound {
  readonly name: string;
  lose(reason: LeaseholdError): void;
}

export interface GrantOptions {
  /**
   * true (default): the lease lives as long as the session is heard from, plus its TTL.
   * false: it expires TTL after its grant or last `renew`, whatever the session does.
   */
  keepAlive?: boolean;
}

export interface TimeToLive {
  ttlMs: number;
  remainingMs: number;
  keepAlive: boolean;
  /** Names of the locks held under the lease. */
  locks: string[];
}

/**
 * A lease as this client sees it. Its `signal` aborts the moment the lease may be gone — told by the
 * server, or decided by the client's own conservative deadline when it hears nothing — and every
 * lock bound to it is lost with it. Once lost, it never becomes valid again.
 */
export class Lease {
  // The signal is made only when someone looks (as a Lock's): a client waiting on thousands of
  // leases then carries no AbortController, signal and listener for each.
  #controller: AbortController | undefined;
  #endedWith: LeaseholdError | undefined;
  /** Locks, semaphore slots and election terms held under this lease, so that they are lost together. */
  readonly locks = new Set<LeaseBound>();
  /** Send time of the grant or last acknowledged renew (for leases without keep-alive). */
  renewedAt: number;

  constructor(
    readonly id: number,
    readonly ttlMs: number,
    readonly keepAlive: boolean,
    grantedAt: number,
    readonly liveness: Liveness,
    /** Tells the server to end the lease too (after the client gave it up on its own); never rejects. */
    readonly giveBack: () => Promise<void>,
    /** Called once when the lease ends, before its signal aborts. */
    readonly onEnd: (lease: Lease) => void = () => {},
  ) {
    this.renewedAt = grantedAt;
  }

  /** Checks the deadline first (see `Liveness.checkDue`): read after a pause, it is already aborted. */
  get signal(): AbortSignal {
    this.liveness.checkDue();
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#endedWith !== undefined) this.#controller.abort(this.#endedWith);
    }
    return this.#controller.signal;
  }

  /** Checks the deadline first, as `signal` does. */
  get lost(): boolean {
    this.liveness.checkDue();
    return this.#endedWith !== undefined;
  }

  deadline(): number {
    return this.keepAlive ? this.liveness.keptAliveDeadline(this.ttlMs) : this.liveness.fixedDeadline(this.renewedAt, this.ttlMs);
  }

  lapse(): void {
    this.end(new LeaseExpiredError(ErrorCode.LEASE_EXPIRED, `lease ${this.id} may have expired: no word from the server within its ${this.ttlMs} ms TTL`));
    // The server may still hold it (it heard from us later than we can prove): nobody can use it
    // any more, so end it there as well, and its locks pass to the next waiters.
    void this.giveBack();
  }

  /**
   * `await using lease = await client.leases.grant(ttl)` revokes the lease at the end of the block
   * (its locks pass to the next waiters), unless it is gone already.
   */
  async [asyncDispose](): Promise<void> {
    if (this.#endedWith !== undefined) return;
    this.end(new LeaseExpiredError(ErrorCode.LEASE_EXPIRED, `lease ${this.id} was revoked by its owner`));
    await this.giveBack();
  }

  /** Marks the lease and its locks lost, with a reason the user can inspect. */
  end(reason: LeaseholdError): void {
    if (this.#endedWith !== undefined) return;
    this.#endedWith = reason;
    this.liveness.unwatch(this);
    for (const lock of this.locks) lock.lose(reason);
    this.locks.clear();
    this.onEnd(this);
    this.#controller?.abort(reason);
  }
}

/** `client.leases`. */
export class Leases {
  #sessionLease: Promise<Lease> | undefined;

  constructor(
    readonly calls: Calls,
    readonly liveness: Liveness,
    readonly registry: Map<number, Lease>,
    readonly changed: () => void,
    readonly sessionLeaseTtlMs: number,
  ) {}

  /**
   * The client's own kept-alive lease, granted on first use and again after it is lost: for helpers
   * such as `locks.request` that, like the Web Locks API, take no lease of their own.
   */
  sessionLease(): Promise<Lease> {
    const current = this.#sessionLease;
    if (!current) return this.#grantSessionLease();
    // Stored, so that callers arriving together share one check and at most one new grant.
    this.#sessionLease = current.then(
      (lease) => (lease.lost ? this.#grantSessionLease() : lease),
      () => this.#grantSessionLease(),
    );
    return this.#sessionLease;
  }

  #grantSessionLease(): Promise<Lease> {
    this.#sessionLease = this.grant(this.sessionLeaseTtlMs);
    return this.#sessionLease;
  }

  /** Grants a lease of `ttlMs`; kept alive by the session unless `keepAlive: false`. */
  async grant(ttlMs: number, options: GrantOptions = {}): Promise<Lease> {
    const sentAt = this.liveness.clock.now();
    const result = await this.calls.call("lease.grant", { ttl: ttlMs, keepAlive: options.keepAlive ?? true }).result;
    const lease = new Lease(
      result.lease,
      result.ttl,
      result.keepAlive,
      sentAt,
      this.liveness,
      () => this.calls.call("lease.revoke", { lease: result.lease }).result.then(
        () => {},
        () => {},
      ),
      (ended) => {
        this.registry.delete(ended.id);
        this.changed();
      },
    );
    this.registry.set(lease.id, lease);
    this.liveness.watch(lease);
    this.changed();
    return lease;
  }

  /** Restarts the countdown of a lease (needed only for `keepAlive: false`). */
  async renew(id: number): Promise<void> {
    const sentAt = this.liveness.clock.now();
    await this.calls.call("lease.renew", { lease: id }).result;
    const lease = this.registry.get(id);
    if (lease && sentAt > lease.renewedAt) lease.renewedAt = sentAt;
  }

  /** Ends a lease at once; every lock bound to it is released and passed to the next waiter. */
  async revoke(id: number): Promise<void> {
    // Ended here before the revoke goes out: the server passes the lease's locks on as soon as it reads it.
    this.registry.get(id)?.end(new LeaseExpiredError(ErrorCode.LEASE_EXPIRED, `lease ${id} was revoked by its owner`));
    await this.calls.call("lease.revoke", { lease: id }).result;
  }

  async timeToLive(id: number): Promise<TimeToLive> {
    const result = await this.calls.call("lease.ttl", { lease: id }).result;
    return { ttlMs: result.ttl, remainingMs: result.remaining, keepAlive: result.keepAlive, locks: result.locks };
  }

  /** The live leases this client holds. */
  list(): Lease[] {
    return [...this.registry.values()];
  }
}
