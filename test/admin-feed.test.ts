import { AdminMirror, ErrorCode, PermissionError, type AdminSubscription, type AdminUpdate, type LeaseholdClient } from "@leasehold/client";
import { DEFAULT_LIMITS } from "@leasehold/protocol";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test, vi } from "vitest";
import { defer, startClient, startServer } from "./support/fixtures.js";
import { Raw } from "./support/raw.js";
import { STATIC_TOKENS, TOKENS } from "./support/security.js";
import { inspectIn, inspectOver, lockIn, sessionIn } from "./support/inspect.js";

/** Applies every push of the subscription to a mirror, in the background; `ended` settles with the error it ended with, if any. */
function mirror(subscription: AdminSubscription) {
  const state = new AdminMirror();
  const updates: AdminUpdate[] = [];
  const ended = (async () => {
    try {
      for await (const update of subscription) {
        updates.push(update);
        state.apply(update);
      }
    } catch (error) {
      return error;
    }
    return undefined;
  })();
  return { state, updates, ended };
}

/** What the mirror shows of a lock: holders and waiters by client name. */
function lockRow(state: AdminMirror, name: string) {
  const entry = state.locks.get(name);
  if (!entry) return undefined;
  return {
    holders: entry.holders.map((holder) => state.agentOf(holder.session)),
    waiters: entry.waiters.map((waiter) => state.agentOf(waiter.session)),
    waiting: entry.waiting,
  };
}

async function agent(url: string, name: string): Promise<LeaseholdClient> {
  return startClient(url, { agent: name });
}

describe("admin.subscribe", () => {
  test("needs the admin right; an admin gets it, and it counts against maxWatchesPerSession", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS }, limits: { maxWatchesPerSession: 2 } });
    const tenant = await startClient(server.url, { auth: TOKENS.tenantA });
    const denied = tenant.admin.subscribe();
    await expect(denied.ready).rejects.toBeInstanceOf(PermissionError);
    await expect(denied.ready).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    const subscriptionsOf = async (client: LeaseholdClient) => sessionIn(await inspectOver(server.url, TOKENS.admin), client.sessionId)?.subscriptions;
    expect(await subscriptionsOf(tenant)).toBe(0);

    const ops = await startClient(server.url, { auth: TOKENS.admin });
    const first = ops.admin.subscribe();
    const watch = ops.watch("tenant-a/");
    await Promise.all([first.ready, watch.ready]);
    await expect(ops.admin.subscribe().ready).rejects.toMatchObject({ code: ErrorCode.LIMIT_EXCEEDED });
    first.close();
    // The watch alone is left open, then the feed opened again beside it.
    await vi.waitFor(async () => expect(await subscriptionsOf(ops)).toBe(1));
    const again = ops.admin.subscribe();
    await again.ready;
    expect(await subscriptionsOf(ops)).toBe(2);
  });

  test("a snapshot first, then each grant, queued waiter (with its client's name), release, lease expiry and election as it happens", async () => {
    const server = await startServer();
    const alice = await agent(server.url, "alice");
    const bob = await agent(server.url, "bob");
    const aliceLease = await alice.leases.grant(10_000);
    await alice.locks.acquire("before", aliceLease.id);

    const ops = await agent(server.url, "ops");
    const subscription = ops.admin.subscribe();
    const { state, updates } = mirror(subscription);
    await vi.waitFor(() => expect(state.synced).toBe(true));
    expect(updates[0]?.reset).toBe(true);
    expect(lockRow(state, "before")).toEqual({ holders: ["alice"], waiters: [], waiting: 0 });
    expect([...state.sessions.values()].map((session) => session.agent).sort()).toEqual(["alice", "bob", "ops"]);

    // Grant, then a waiter queued behind it.
    const job = await alice.locks.acquire("job", aliceLease.id);
    await vi.waitFor(() => expect(lockRow(state, "job")).toEqual({ holders: ["alice"], waiters: [], waiting: 0 }));
    const bobLease = await bob.leases.grant(10_000);
    const queued = bob.locks.acquire("job", bobLease.id, { wait: true });
    await vi.waitFor(() => expect(lockRow(state, "job")).toEqual({ holders: ["alice"], waiters: ["bob"], waiting: 1 }));
    const waiter = state.locks.get("job")!.waiters[0]!;
    expect(state.serverNow() - waiter.since).toBeGreaterThanOrEqual(0);

    // Release: the waiter is granted; its release leaves nothing.
    await job.release();
    const bobJob = await queued;
    await vi.waitFor(() => expect(lockRow(state, "job")).toEqual({ holders: ["bob"], waiters: [], waiting: 0 }));
    await bobJob.release();
    await vi.waitFor(() => expect(state.locks.has("job")).toBe(false));

    // A lease that is not kept alive expires: it and its lock go.
    const short = await alice.leases.grant(300, { keepAlive: false });
    await alice.locks.acquire("short", short.id);
    await vi.waitFor(() => expect(state.leases.get(short.id)?.expiresAt).toBeGreaterThan(0));
    await vi.waitFor(() => expect(lockRow(state, "short")).toBeDefined());
    await vi.waitFor(() => {
      expect(state.leases.has(short.id)).toBe(false);
      expect(state.locks.has("short")).toBe(false);
    });

    // An election: its leader and its candidates, by name.
    const term = await alice.elections.campaign("leader", aliceLease.id, { value: "a" });
    const candidacy = bob.elections.campaign("leader", bobLease.id, { value: "b", wait: true });
    await vi.waitFor(() => {
      const election = state.elections.get("leader");
      expect(election?.holders.map((holder) => [state.agentOf(holder.session), holder.token])).toEqual([["alice", term.token]]);
      expect(election?.waiters.map((candidate) => state.agentOf(candidate.session))).toEqual(["bob"]);
    });
    await term.resign();
    await candidacy;
    await vi.waitFor(() => expect(state.elections.get("leader")?.holders.map((holder) => state.agentOf(holder.session))).toEqual(["bob"]));

    // A session that leaves is gone from the feed; the mirror matches admin.state throughout.
    await bob.close();
    await vi.waitFor(() => expect([...state.sessions.values()].map((session) => session.agent).sort()).toEqual(["alice", "ops"]));
    await vi.waitFor(() => expect(state.elections.has("leader")).toBe(false));
    const truth = await ops.admin.state();
    await vi.waitFor(() => {
      expect([...state.locks.keys()].sort()).toEqual(truth.locks.filter((entry) => entry.kind !== "election").map((entry) => entry.name).sort());
      expect([...state.leases.keys()].sort()).toEqual(truth.leases.map((lease) => lease.lease).sort());
    });
    // Only the snapshot's first push reset the mirror.
    expect(updates.filter((update) => update.reset)).toHaveLength(1);
    subscription.close();
  });

  test("a large snapshot comes in pushes below the frame limit, and a queue of 300 lists its first 100 with the whole count", async () => {
    const server = await startServer();
    const holder = await agent(server.url, "holder");
    const lease = await holder.leases.grant(30_000);
    // Three times the 100 waiters an entry lists.
    const QUEUED = 300;
    // A snapshot of some 13 pushes of 32 KiB (1,000 names of 410 characters): 3,000 names and 5,000
    // waiters took 15 s of the tier at a load of 18.
    const names = Array.from({ length: 1_000 }, (_, index) => `tenant/${"n".repeat(400)}/${index}`);
    await Promise.all(names.map((name) => holder.locks.acquire(name, lease.id)));
    const waiters = await agent(server.url, "waiters");
    const waiterLease = await waiters.leases.grant(30_000);
    for (let index = 0; index < QUEUED; index++) void waiters.locks.acquire(names[0]!, waiterLease.id, { wait: true }).catch(() => {});
    // The server handles one session's requests in order: once a read sent after the acquires
    // is answered, they are all queued, however long that took (a fixed wait failed at a load of 20).
    await waiters.counters.get("after-the-acquires");
    expect(lockIn(await inspectOver(server.url), names[0]!)?.waiters).toHaveLength(QUEUED);

    const raw = await Raw.open(server.url);
    const sizes: number[] = [];
    raw.socket.on("message", (data: Buffer) => sizes.push(data.byteLength));
    await raw.hello();
    raw.fire({ op: "admin.subscribe" });
    await raw.next((message) => message.type === "admin.update" && message.synced, { timeout: 50_000 }); // a hang guard, within the 60 s budget
    const updates = raw.received.filter((message): message is AdminUpdate => message.type === "admin.update");
    expect(updates.length).toBeGreaterThan(10);
    expect(Math.max(...sizes)).toBeLessThan(DEFAULT_LIMITS.maxFrameBytes);
    expect(updates.map((update) => update.reset)).toEqual([true, ...updates.slice(1).map(() => false)]);
    const locks = updates.flatMap((update) => update.locks);
    expect(new Set(locks.map((entry) => entry.name))).toEqual(new Set(names));
    const busy = locks.find((entry) => entry.name === names[0]);
    expect(busy?.waiting).toBe(QUEUED);
    expect(busy?.waiters).toHaveLength(100);
  });
});

describe("admin.subscribe and a reload", () => {
  test("a feed whose session loses the admin right in a reload is closed with PERMISSION_DENIED and sent nothing more", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-admin-feed-"));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "tokens.json");
    const ops = STATIC_TOKENS.find((entry) => entry.name === "ops")!;
    writeFileSync(file, JSON.stringify({ tokens: [ops] }));
    const server = await startServer({ auth: { tokensFile: file } });
    const worker = await startClient(server.url, { auth: TOKENS.admin, agent: "worker" });
    const lease = await worker.leases.grant(10_000);
    const admin = await startClient(server.url, { auth: TOKENS.admin, agent: "ops" });
    const subscription = admin.admin.subscribe();
    const { state, ended } = mirror(subscription);
    await vi.waitFor(() => expect(state.synced).toBe(true));

    writeFileSync(file, JSON.stringify({ tokens: [{ ...ops, permissions: [{ prefix: "", allow: ["lock"] }] }] }));
    server.reload();
    await worker.locks.acquire("after-reload", lease.id);
    await expect(ended).resolves.toBeInstanceOf(PermissionError);
    expect(state.locks.has("after-reload")).toBe(false);
    // Read in process: no session is an admin any more.
    expect(sessionIn(inspectIn(server), admin.sessionId)?.subscriptions).toBe(0);
  });
});
