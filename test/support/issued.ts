import type { LeaseholdClient } from "@leasehold/client";

/**
 * What a server has handed out and will hand out next, for the backup and restore tests (test/cli and
 * test/cluster): a restored server must hand out tokens and revisions above every one issued before.
 */

/** A lock and a key written now: the largest token or revision they were given. */
export async function issueMore(client: LeaseholdClient, name: string): Promise<number> {
  const lease = await client.leases.grant(60_000);
  const lock = await client.locks.acquire(name, lease.id);
  const put = await client.put(`${name}/key`, 1);
  return Math.max(lock.token!, put.revision);
}

/** What the server behind `client` hands out next: a lock's token, and the revision of a write fenced by it. */
export async function nextIssued(client: LeaseholdClient): Promise<{ token: number; revision: number }> {
  const lease = await client.leases.grant(10_000);
  const lock = await client.locks.acquire("after-restore", lease.id);
  // A fenced write with the new (large) token: the protocol carries it both ways.
  const put = await client.put("after-restore/key", 1, { fence: { lock: "after-restore", token: lock.token! } });
  return { token: lock.token!, revision: put.revision };
}
