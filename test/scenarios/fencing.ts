import { ConflictError, ErrorCode, FenceError, type LeaseholdClient } from "@leasehold/client";
import { describe, expect, test, vi } from "vitest";
import { aborted, controllableSockets, harnessFor } from "../shared-state/fixtures/harness.js";



async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

async function expectFenceFailure(client: LeaseholdClient, key: string, token: number) {
  const put = await rejection(client.put(key, "stale write", { fence: { lock: "lock:job", token } }));
  expect(put).toBeInstanceOf(FenceError);
  expect(put).toMatchObject({ code: ErrorCode.FENCE_FAILED });
  const deleted = await rejection(client.delete(key, { fence: { lock: "lock:job", token } }));
  expect(deleted).toBeInstanceOf(FenceError);
}
import type { Target } from "../support/target.js";

/** The fencing scenarios: test/shared-state/fencing.test.ts runs them against one server, test/cluster/e2e-shared-state.test.ts against a cluster. */
export function describeFencing(target: Target): void {
  const harness = harnessFor(target);
  describe(`fenced writes (${target.name})`, () => {
    test("a holder whose lease expired (keepAlive: false) is refused after the next holder got the lock", async () => {
      const server = await harness.server();
      const [stale, next] = await harness.clients(server, 2);
      // Long enough for the acquire and the write below at a load of 30 (a 300 ms lease ran out first).
      const staleLease = await stale!.leases.grant(2_000, { keepAlive: false });
      const lock = await stale!.locks.acquire("lock:job", staleLease.id);
      await stale!.put("job", "v1", { fence: { lock: "lock:job", token: lock.token! } });

      const nextLease = await next!.leases.grant(5_000);
      const granted = await next!.locks.acquire("lock:job", nextLease.id, { wait: true });
      expect(granted.acquired).toBe(true);
      // Told first: the stale holder's own deadline fired no later than the grant to the next one.
      expect(lock.signal.aborted).toBe(true);

      await expectFenceFailure(stale!, "job", lock.token!);
      const written = await next!.put("job", "v2", { fence: { lock: "lock:job", token: granted.token! } });
      expect(await next!.get("job")).toEqual({ value: "v2", revision: written.revision });
    });

    test("a holder cut off from the server (connection dropped, reconnects refused) is refused after it comes back", async () => {
      const server = await harness.server();
      const sockets = controllableSockets();
      const stale = await harness.client(server, { WebSocket: sockets.WebSocket });
      const next = await harness.client(server);
      const staleLease = await stale.leases.grant(300);
      const lock = await stale.locks.acquire("lock:job", staleLease.id);
      await stale.put("job", "v1", { fence: { lock: "lock:job", token: lock.token! } });
      const nextLease = await next.leases.grant(5_000);
      const waiting = next.locks.acquire("lock:job", nextLease.id, { wait: true });

      sockets.blocked = true;
      stale.dropConnection();
      const reason = await aborted(lock.signal);
      expect(reason).toMatchObject({ code: ErrorCode.LEASE_EXPIRED });
      const granted = await waiting;
      expect(granted.acquired).toBe(true);

      sockets.blocked = false;
      // The network is back: dial now, as an application told so would, rather than after the backoff wait.
      stale.wake();
      await vi.waitFor(() => expect(stale.connected).toBe(true), { timeout: 15_000, interval: 20 });
      await expectFenceFailure(stale, "job", lock.token!);
      expect(await next.get("job")).toMatchObject({ value: "v1" });
    });

    test("a fence holds for every holder of a shared lock, and fails once the token is released", async () => {
      const server = await harness.server();
      const [a, b] = await harness.clients(server, 2);
      const leaseA = await a!.leases.grant(5_000);
      const leaseB = await b!.leases.grant(5_000);
      const readerA = await a!.locks.acquire("lock:job", leaseA.id, { mode: "shared" });
      const readerB = await b!.locks.acquire("lock:job", leaseB.id, { mode: "shared" });
      await a!.put("job", "a", { fence: { lock: "lock:job", token: readerA.token! } });
      await b!.put("job", "b", { fence: { lock: "lock:job", token: readerB.token! } });
      await readerA.release();
      await expectFenceFailure(a!, "job", readerA.token!);
      // A token of another lock, or a made-up one, is refused as well.
      expect(await rejection(b!.put("job", "x", { fence: { lock: "lock:other", token: readerB.token! } }))).toBeInstanceOf(FenceError);
      expect(await rejection(b!.put("job", "x", { fence: { lock: "lock:job", token: readerB.token! + 1 } }))).toBeInstanceOf(FenceError);
      expect(await b!.get("job")).toMatchObject({ value: "b" });
    });

    test("compare-and-set: ifRevision must match, 0 means absent, and a mismatch is a ConflictError", async () => {
      const server = await harness.server();
      const client = await harness.client(server);
      const created = await client.put("cfg", { v: 1 }, { ifRevision: 0 });
      const again = await rejection(client.put("cfg", { v: 2 }, { ifRevision: 0 }));
      expect(again).toBeInstanceOf(ConflictError);
      expect(again).toMatchObject({ code: ErrorCode.REVISION_MISMATCH });
      const updated = await client.put("cfg", { v: 2 }, { ifRevision: created.revision });
      expect(await rejection(client.put("cfg", { v: 3 }, { ifRevision: created.revision }))).toBeInstanceOf(ConflictError);
      expect(await rejection(client.delete("cfg", { ifRevision: created.revision }))).toBeInstanceOf(ConflictError);
      expect(await client.get("cfg")).toEqual({ value: { v: 2 }, revision: updated.revision });
      const deleted = await client.delete("cfg", { ifRevision: updated.revision });
      expect(deleted.deleted).toBe(true);
      expect(deleted.revision).toBeGreaterThan(updated.revision);
      expect(await client.delete("cfg")).toMatchObject({ deleted: false });
    });
  });
}
