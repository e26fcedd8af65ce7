import { describe, expect, it } from "vitest";
import { LimitExceededError } from "@leasehold/client";
import { ErrorCode } from "@leasehold/protocol";
import { harnessFor } from "../shared-state/fixtures/harness.js";
import { Raw } from "../support/raw.js";
import type { Target } from "../support/target.js";

/** The target's key quota (`limits.maxKeysPerPrincipal`, `--max-keys-per-principal`). */
export const QUOTA_KEYS_PER_PRINCIPAL = 3;

/**
 * Per-principal quotas, against a target without authentication, where the principal is the client's address:
 * test/security/quotas.test.ts runs it against one server, test/cluster/e2e-quotas.test.ts against a cluster
 * through a follower, which proves the client's address to the leader with the cluster secret (otherwise every
 * client relayed by one follower would share one quota). The only test of its file on a cluster: the quota
 * counts every key of an address, whatever its name.
 */
export function describeQuotas(target: Target): void {
  const harness = harnessFor(target);
  describe(`quotas (${target.name})`, () => {
    it("keys per principal (per address without auth): past the limit LIMIT_EXCEEDED, and a new session does not reset it; another address has its own; overwrites, deletes and a lease's end give room", async () => {
      const server = await harness.server();
      const client = await harness.client(server);
      const keys = Array.from({ length: QUOTA_KEYS_PER_PRINCIPAL }, (_, index) => `quota/k/${index}`);
      for (const key of keys) await client.put(key, 1);
      await client.put(keys[0]!, 2);
      const error = await client.put("quota/k/over", 1).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(LimitExceededError);
      expect(error).toMatchObject({ code: ErrorCode.LIMIT_EXCEEDED });
      expect(await client.get("quota/k/over")).toBeNull();
      // Another session from the same address counts against the same quota.
      const other = await harness.client(server);
      await expect(other.put("quota/k/over", 1)).rejects.toBeInstanceOf(LimitExceededError);
      // Another address has a quota of its own (any of 127/8 reaches loopback).
      const elsewhere = await Raw.open(server.url, { localAddress: "127.0.0.2" });
      await elsewhere.hello();
      expect(await elsewhere.request({ op: "kv.put", key: "quota/elsewhere", value: 1 })).toMatchObject({ type: "reply" });
      expect(await elsewhere.request({ op: "kv.delete", key: "quota/elsewhere" })).toMatchObject({ type: "reply" });
      await client.delete(keys[1]!);
      // Keys bound to a lease give their place back when the lease ends.
      const lease = await other.leases.grant(5_000);
      await other.put("quota/l/1", 1, { lease: lease.id });
      await expect(client.put("quota/k/over", 1)).rejects.toBeInstanceOf(LimitExceededError);
      await other.leases.revoke(lease.id);
      await client.put("quota/k/over", 1);
    });
  });
}
