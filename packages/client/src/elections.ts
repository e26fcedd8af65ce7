import { ErrorCode, type LeaderInfo, type ResultOf, type Value } from "@leasehold/protocol";
import { asyncDispose } from "./dispose.js";
import { onAbort } from "./abort.js";
import type { Calls } from "./calls.js";
import { LeaseExpiredError, LeaseholdError, ReleasedError, TimeoutError } from "./errors.js";
import { checkValue } from "./kv.js";
import type { Lease, LeaseBound } from "./leases.js";
import { Subscription, type SubscriptionPush, type Subscriptions } from "./subscriptions.js";

export type { LeaderInfo };

export interface CampaignOptions {
  /** What observers and `leader()` see while this candidate leads (a host name, a tab id). Default null. */
  value?: Value;
  /** Aborting it withdraws the candidacy; `campaign` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** true (default): wait in line until elected. A number: wait at most that many ms, then reject with TimeoutError. false: only if vacant now. */
  wait?: boolean | number;
}

/**
 * One term of leadership. `signal` aborts the moment leadership may be lost: the lease ended
 * (expired, revoked, or the client could not prove it alive in time), the session expired, or the
 * term was resigned. A lost term never becomes valid again; campaign anew for another.
 */
export class Term implements LeaseBound {
  readonly #controller = new AbortController();
  #resign: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly leaseId: number,
    /** Grows with every new term of every election and lock: a fencing token. */
    readonly token: number,
    readonly value: Value,
    readonly owner: { calls: Calls; lease: Lease | undefined; forget(term: Term): void },
  ) {}

  /** Checks the lease's deadline first (see `Liveness.checkDue`): read after a pause, it is already aborted. */
  get signal(): AbortSignal {
    this.owner.lease?.liveness.checkDue();
    return this.#controller.signal;
  }

  /** True while this client leads, as far as it can tell; checks the lease's deadline first. */
  get leading(): boolean {
    return !this.signal.aborted;
  }

  /** Steps down; the next candidate in line leads at once. Safe to call more than once, and after a loss. */
  /** `await using term = await client.elections.campaign(...)` resigns at the end of the block. */
  [asyncDispose](): Promise<void> {
    return this.resign();
  }

  resign(): Promise<void> {
    this.#resign ??= this.#doResign();
    return this.#resign;
  }

  /** Called when the lease ends or the session is gone. */
  lose(reason: LeaseholdError): void {
    if (this.#controller.signal.aborted) return;
    this.owner.forget(this);
    this.#controller.abort(reason);
  }

  async #doResign(): Promise<void> {
    if (!this.leading) return;
    // Told first: the term ends here before the server hands leadership on.
    this.lose(new ReleasedError(ErrorCode.RELEASED, `leadership of "${this.name}" was resigned`));
    try {
      await this.owner.calls.call("election.resign", { name: this.name, token: this.token }).result;
    } catch (error) {
      if (error instanceof LeaseholdError && (error.code === ErrorCode.SESSION_EXPIRED || error.code === ErrorCode.CLIENT_CLOSED)) return;
      throw error;
    }
  }
}

/**
 * `client.elections.observe(name)`: the leader of an election, then every change (null while
 * vacant), each leader once, also across reconnects. Iterate with `for await`; `close()` ends it.
 */
export class LeaderObserver extends Subscription<LeaderInfo | null, ResultOf<"election.observe">> {
  /** Highest token yielded; tokens only grow, so an older report is never news. */
  #highest = 0;
  #last: "none" | "vacant" | "leader" = "none";

  constructor(
    host: Subscriptions,
    readonly name: string,
    bufferSize: number,
  ) {
    super(host, bufferSize);
    this.start();
  }

  protected sendOpen() {
    return this.host.calls.call("election.observe", { name: this.name });
  }

  protected sendClose(request: number): void {
    void this.host.calls.call("election.unobserve", { observe: request }).result.catch(() => {});
  }

  protected opened(reply: ResultOf<"election.observe">): void {
    this.#offer(reply.leader);
  }

  protected pushed(message: Exclude<SubscriptionPush, { type: "watch.closed" }>): void {
    if (message.type === "election.changed") this.#offer(message.leader);
  }

  #offer(leader: LeaderInfo | null): void {
    if (leader === null) {
      if (this.#last === "vacant") return;
      this.#last = "vacant";
      this.deliver(null);
      return;
    }
    if (leader.token <= this.#highest) return;
    this.#highest = leader.token;
    this.#last = "leader";
    this.deliver(leader);
  }
}

/** `client.elections`: leader election, fair (first come, first served) with one leader at a time. */
export class Elections {
  constructor(
    readonly calls: Calls,
    readonly leases: Map<number, Lease>,
    readonly byToken: Map<number, LeaseBound>,
    readonly subscriptions: Subscriptions,
  ) {}

  /**
   * Stands for leader of `name` under the lease `leaseId` and resolves when elected (pushed by the
   * server, no polling). Candidates are elected in the order they campaigned. The term is bound to
   * the lease: when the lease is lost, so is the leadership.
   */
  async campaign(name: string, leaseId: number, options: CampaignOptions = {}): Promise<Term> {
    options.signal?.throwIfAborted();
    const value = options.value ?? null;
    checkValue(value);
    const wait = options.wait === undefined || options.wait === true ? true : options.wait === false ? 0 : options.wait;
    const call = this.calls.call("election.campaign", { name, lease: leaseId, value, wait });
    const signal = options.signal;
    const giveUp = () => {
      this.calls.abandon(call.id, signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason)), (late) => {
        // Elected just as we gave up: step down at once.
        const result = late as ResultOf<"election.campaign">;
        if (result.elected) void this.calls.call("election.resign", { name, token: result.token }).result.catch(() => {});
      });
      if (wait !== 0) void this.calls.call("cancel", { target: call.id }).result.catch(() => {});
    };
    const stopListening = signal === undefined ? undefined : onAbort(signal, giveUp);
    try {
      const result = await call.result;
      if (!result.elected) {
        throw new TimeoutError(ErrorCode.TIMEOUT, wait === 0 ? `"${name}" has a leader already` : `not elected leader of "${name}" within ${wait} ms`);
      }
      return this.#term(name, leaseId, result.token, value);
    } finally {
      stopListening?.();
    }
  }

  /** The current leader, or null when vacant. */
  async leader(name: string): Promise<LeaderInfo | null> {
    return (await this.calls.call("election.leader", { name }).result).leader;
  }

  /** Every change of leader of `name`, starting with the current one. */
  observe(name: string, options: { bufferSize?: number } = {}): LeaderObserver {
    return new LeaderObserver(this.subscriptions, name, options.bufferSize ?? 1_000);
  }

  #term(name: string, leaseId: number, token: number, value: Value): Term {
    const lease = this.leases.get(leaseId);
    const term = new Term(name, leaseId, token, value, {
      calls: this.calls,
      lease,
      forget: (gone) => {
        this.byToken.delete(gone.token);
        lease?.locks.delete(gone);
      },
    });
    this.byToken.set(token, term);
    if (lease && !lease.lost) lease.locks.add(term);
    else term.lose(new LeaseExpiredError(ErrorCode.LEASE_EXPIRED, `lease ${leaseId} ended before leadership of "${name}" arrived`));
    return term;
  }
}
