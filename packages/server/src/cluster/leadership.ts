import { systemClock, type Clock } from "@leasehold/protocol";
import type { EtcdClient } from "./etcd-client.js";
import { LeaseKeeper } from "./lease-keeper.js";

/**
 * A gateway's campaign for leadership, as etcd's own `concurrency.Election` runs it: each candidate
 * puts `<prefix><lease id in hex>` under its own lease; the key with the lowest create revision is the
 * leader; the others wait for the deletion of the key created just before their own (no herd: one
 * watcher per key). The leader's create revision is its **epoch**: every commit of its state is
 * guarded by `create_revision(key) == epoch` (etcd-storage.ts), which no other process, nor this one
 * after its key is gone, can satisfy.
 *
 * `check()` is the leader's own half of the guarantee: it throws once the election lease may have
 * lapsed in etcd (see LeaseKeeper), so a leader woken from SIGSTOP refuses every frame, even a read,
 * before its timers have run.
 */
export class Leadership {
  #state: LeadershipState = { state: "idle" };
  #keeper: LeaseKeeper | undefined;
  readonly #clock: Clock;

  constructor(readonly options: LeadershipOptions) {
    this.#clock = options.clock ?? systemClock;
  }

  get state(): LeadershipState {
    return this.#state;
  }

  /**
   * Campaigns until this candidate leads (resolves with its term), its lease is lost or `signal`
   * aborts (rejects with LeadershipLost; the lease is revoked). One campaign per instance.
   */
  async campaign(signal?: AbortSignal): Promise<Term> {
    if (this.#state.state !== "idle") throw new Error(`campaign() called in state ${this.#state.state}: one campaign per Leadership`);
    const { client, prefix, ttlSeconds } = this.options;
    const grantSentAt = this.#clock.now();
    const granted = await client.grantLease(ttlSeconds);
    const lease = granted.id;
    const ttlMs = granted.ttlSeconds * 1_000;
    this.#keeper = new LeaseKeeper(lease, ttlMs, grantSentAt, (id) => client.keepAliveOnce(id, ttlMs / 4), this.#clock, this.options.marginMs ?? ttlMs / 20, (reason) =>
      this.#lose(reason),
    );
    this.#state = { state: "campaigning", lease };
    try {
      const key = `${prefix}${BigInt(lease).toString(16)}`;
      const value = this.options.value ?? new Uint8Array();
      const created = await client.txn([{ key, createRevision: 0 }], [{ op: "put", key, value, lease }], [{ op: "get", key }]);
      const epoch = created.succeeded ? created.revision : (created.ranges[0]?.[0]?.createRevision ?? 0);
      for (;;) {
        this.#throwIfOver(signal);
        const ahead = await client.getPrefix(prefix, { byCreate: "descend", limit: 1, maxCreateRevision: epoch - 1, keysOnly: true });
        this.#throwIfOver(signal);
        const predecessor = ahead.kvs[0];
        if (!predecessor) break;
        await client.waitForDelete(predecessor.key, ahead.revision, ttlMs);
      }
      const term: Term = { key, epoch, lease };
      this.#state = { state: "leader", ...term };
      return term;
    } catch (error) {
      await this.resign();
      throw error;
    }
  }

  /**
   * Throws LeadershipLost unless this process leads and its election lease is surely alive now.
   * Call it before handling any frame and before any reply built from the leader's state.
   */
  check(): void {
    const state = this.#state;
    if (state.state === "leader" && this.#keeper?.lost === undefined) return;
    const current = this.#state;
    throw new LeadershipLost(current.state === "lost" ? current.reason : `this gateway is not the leader (${current.state})`);
  }

  /** The instant (monotonic ms of the clock) until which the lease is surely alive. */
  get deadline(): number | undefined {
    return this.#keeper?.deadline;
  }

  /** Steps down: stops the keepalives and revokes the lease, so that the next candidate wins at once. */
  async resign(): Promise<void> {
    const keeper = this.#keeper;
    if (this.#state.state !== "lost") this.#state = { state: "lost", reason: "resigned" };
    if (!keeper) return;
    keeper.stop();
    this.#keeper = undefined;
    await this.options.client.revokeLease(keeper.lease).catch(() => undefined);
  }

  #throwIfOver(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw new LeadershipLost("the campaign was cancelled");
    const lost = this.#keeper?.lost;
    if (lost !== undefined) throw new LeadershipLost(lost);
  }

  #lose(reason: string): void {
    if (this.#state.state === "lost") return;
    this.#state = { state: "lost", reason };
    this.options.onLost?.(reason);
  }
}

/** The current leader's term as etcd has it (what followers read to find it), or undefined. */
export async function currentLeader(client: Pick<EtcdClient, "getPrefix">, prefix: string): Promise<{ key: string; epoch: number; value: Buffer } | undefined> {
  const first = (await client.getPrefix(prefix, { byCreate: "ascend", limit: 1 })).kvs[0];
  return first && { key: first.key, epoch: first.createRevision, value: first.value };
}

export interface LeadershipOptions {
  client: Pick<EtcdClient, "grantLease" | "keepAliveOnce" | "revokeLease" | "txn" | "getPrefix" | "waitForDelete">;
  /** Election keys go under it, e.g. `/leasehold/election/`. */
  prefix: string;
  /** Of the election lease; etcd raises it to its minimum (ceil(1.5 × election timeout), 2 s at etcd's defaults). */
  ttlSeconds: number;
  /** Stored in the election key, for followers to find the leader (its address). */
  value?: Uint8Array;
  clock?: Clock;
  /** Stop this long before the lease could lapse; default TTL/20, for clock rate differences. */
  marginMs?: number;
  /** Told once when leadership (or the campaign) is lost, not after resign(). */
  onLost?: (reason: string) => void;
}

/** A leader's term: its election key, its epoch (the key's create revision) and its lease. */
export interface Term {
  key: string;
  epoch: number;
  lease: string;
}

export type LeadershipState =
  | { state: "idle" }
  | { state: "campaigning"; lease: string }
  | ({ state: "leader" } & Term)
  | { state: "lost"; reason: string };

/** This gateway does not lead (or may no longer): it must not answer from its state. */
export class LeadershipLost extends Error {
  constructor(reason: string) {
    super(`leadership lost: ${reason}`);
    this.name = "LeadershipLost";
  }
}
