import { EtcdClient, EtcdRequestError } from "../cluster/etcd-client.js";
import { dataPrefixOf, electionPrefixOf } from "../cluster/layout.js";
import { Leadership, LeadershipLost, currentLeader } from "../cluster/leadership.js";
import { EtcdStorage } from "../persistence/etcd-storage.js";
import type { StoredState } from "../persistence/storage.js";
import { CommandFailure, ExitCode } from "./exit-codes.js";

/** A cluster's state in etcd: its client URLs and `--etcd-prefix`. */
export interface EtcdTarget {
  endpoints: string[];
  prefix: string;
}

/**
 * The cluster's state as the leader would load it, read at one etcd revision (a consistent view while
 * the gateways run). Reads only: the storage is given an election key no one holds, so that any
 * write it attempted would be refused by etcd.
 */
export async function readEtcdSnapshot(target: EtcdTarget): Promise<StoredState> {
  const client = new EtcdClient(target.endpoints, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  try {
    const storage = new EtcdStorage({ client, prefix: dataPrefixOf(target.prefix), leaderKey: `${target.prefix}backup-reads-only`, epoch: NO_EPOCH });
    return await unreachableAsUnavailable(target, () => storage.load());
  } finally {
    client.close();
  }
}

/**
 * Runs `work` on the cluster's storage as its sole writer: it wins the gateways' election itself, so
 * that every write is guarded by its term as a leader's are and a gateway started meanwhile waits for
 * it. While a gateway leads it waits (a stopped gateway's election key lingers until its lease lapses:
 * its --election-ttl), and refuses after CAMPAIGN_TIMEOUT_MS: a running leader would go on serving its
 * own state. Resigns afterwards; the next gateway to lead loads what `work` wrote.
 */
export async function withEtcdStorage<T>(target: EtcdTarget, work: (storage: EtcdStorage, current: StoredState) => Promise<T>): Promise<T> {
  const client = new EtcdClient(target.endpoints, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const electionPrefix = electionPrefixOf(target.prefix);
  const leadership = new Leadership({ client, prefix: electionPrefix, ttlSeconds: ELECTION_TTL_SECONDS, value: new TextEncoder().encode("leasehold restore") });
  try {
    return await unreachableAsUnavailable(target, async () => {
      const term = await leadership.campaign(AbortSignal.timeout(CAMPAIGN_TIMEOUT_MS)).catch(async (error: unknown) => {
        if (!(error instanceof LeadershipLost)) throw error;
        const leader = await currentLeader(client, electionPrefix).catch(() => undefined);
        throw new CommandFailure(
          ExitCode.CANNOT_CREATE,
          `${leader ? `a gateway leads the cluster under ${target.prefix} (${leader.value.toString("utf8")})` : `could not win the election under ${electionPrefix} (${error.message})`}: stop every gateway (leasehold serve --etcd) before restoring or importing, then start them again`,
        );
      });
      const storage = new EtcdStorage({ client, prefix: dataPrefixOf(target.prefix), leaderKey: term.key, epoch: term.epoch });
      const result = await work(storage, await storage.load());
      // The restored state as a snapshot: the next leader loads it without replaying a large log entry.
      await storage.snapshot();
      await storage.close();
      return result;
    });
  } finally {
    await leadership.resign();
    client.close();
  }
}

/** A create revision no key has: every write guarded by it fails. */
const NO_EPOCH = -1;
const REQUEST_TIMEOUT_MS = 10_000;
/** Held only while the restore writes; a restore that dies lets the gateways take over after it. */
const ELECTION_TTL_SECONDS = 5;
/** Longer than a stopped gateway's election key lingers at the default --election-ttl (2 s). */
const CAMPAIGN_TIMEOUT_MS = 5_000;

async function unreachableAsUnavailable<T>(target: EtcdTarget, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof CommandFailure) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    const unreachable = error instanceof EtcdRequestError || (error instanceof Error && error.cause instanceof EtcdRequestError);
    throw new CommandFailure(unreachable ? ExitCode.UNAVAILABLE : ExitCode.INTERNAL, `etcd at ${target.endpoints.join(",")} under ${target.prefix}: ${reason}`);
  }
}
