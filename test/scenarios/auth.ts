import { describe, expect, it } from "vitest";
import { LeaseExpiredError, LockLostError, PermissionError, type LeaseholdClient } from "@leasehold/client";
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from "@leasehold/protocol";
import { startClient } from "../support/fixtures.js";
import { inspectOver } from "../support/inspect.js";
import { Raw } from "../support/raw.js";
import { JWT_KEY, TENANT_RIGHTS, TOKENS, mintJwt } from "../support/security.js";
import type { Target } from "../support/target.js";

/**
 * The authentication and permission scenarios, against a target that takes the static tokens and HS256
 * tickets of AUTH_OPTIONS (test/support/security.ts; `authFlags()` for a cluster's gateways).
 * test/security/permissions.test.ts runs them against one server, test/cluster/e2e-security.test.ts
 * against a cluster through a follower: the leader checks the hello the follower relays. Names are
 * unique per test, as a cluster is shared by a file's tests.
 */
export function describeAuth(target: Target): void {
  describe(`permissions by name prefix (${target.name})`, () => {
    it("a token scoped to tenant-a/ locks, reads and watches under tenant-a/ and nowhere else; the connection stays", async () => {
      const server = await target.start();
      const a = await startClient(server.url, { auth: TOKENS.tenantA });
      const b = await startClient(server.url, { auth: TOKENS.tenantB });
      const session = a.sessionId;

      // Its own names: everything works.
      const lease = await a.leases.grant(5_000);
      const lock = await a.locks.acquire("tenant-a/scoped/job", lease.id);
      expect(lock.acquired).toBe(true);
      const watch = a.watch("tenant-a/scoped/");
      const iterator = watch[Symbol.asyncIterator]();
      const firstEvent = iterator.next();
      await a.put("tenant-a/scoped/config", { v: 1 }, { fence: { lock: lock.name, token: lock.token! } });
      expect((await firstEvent).value).toMatchObject({ type: "put", key: "tenant-a/scoped/config" });
      watch.close();
      expect((await a.get("tenant-a/scoped/config"))?.value).toEqual({ v: 1 });
      expect((await a.list("tenant-a/scoped/")).map((item) => item.key)).toEqual(["tenant-a/scoped/config"]);
      expect(await a.counters.increment("tenant-a/scoped/count")).toBe(1);

      // Another tenant's names: PERMISSION_DENIED for every kind of access.
      const bLease = await b.leases.grant(5_000);
      const bLock = await b.locks.acquire("tenant-b/job", bLease.id);
      await b.put("tenant-b/secret", "b's data");
      await denied(a.locks.acquire("tenant-b/job", lease.id));
      await denied(a.semaphores.acquire("tenant-b/pool", lease.id, { limit: 3 }));
      await denied(a.get("tenant-b/secret"));
      await denied(a.put("tenant-b/secret", "overwritten"));
      await denied(a.delete("tenant-b/secret"));
      await denied(a.list("tenant-b/"));
      await denied(a.counters.increment("tenant-b/count"));
      await denied(a.elections.campaign("tenant-b/leader", lease.id, { value: "a" }));
      await denied(a.elections.leader("tenant-b/leader"));
      // A fence on another tenant's lock would reveal whether it is held and with which token.
      await denied(a.put("tenant-a/scoped/config", 2, { fence: { lock: bLock.name, token: bLock.token! } }));

      // Prefixes wider than the grant: a watch or list on "" would reveal tenant-b's keys.
      await denied(firstWatchEvent(a, ""));
      await denied(firstWatchEvent(a, "tenant-"));
      await denied(firstWatchEvent(a, "tenant-b/"));
      await denied(a.list(""));

      // Administration needs the admin right.
      await denied(a.admin.state());
      await denied(a.admin.forceRelease("tenant-b/job"));
      await denied(a.admin.revokeLease(bLease.id));

      // None of it took effect, and the connection and session are unchanged.
      expect((await b.get("tenant-b/secret"))?.value).toBe("b's data");
      expect(bLock.held).toBe(true);
      expect(a.connected).toBe(true);
      expect(a.sessionId).toBe(session);
      expect(lock.held).toBe(true);
      expect(await a.counters.increment("tenant-a/scoped/count")).toBe(2);
    });
    it("a read-only grant reads but cannot write, lock or watch", async () => {
      const server = await target.start();
      const writer = await startClient(server.url, { auth: TOKENS.tenantA });
      await writer.put("tenant-a/audit/report", "ready");
      const auditor = await startClient(server.url, { auth: TOKENS.auditor });
      expect((await auditor.get("tenant-a/audit/report"))?.value).toBe("ready");
      // A read grant over "" lists every key (a cluster's other tests have keys of their own).
      expect((await auditor.list("")).map((item) => item.key)).toContain("tenant-a/audit/report");
      const lease = await auditor.leases.grant(5_000);
      await denied(auditor.put("tenant-a/audit/report", "changed"));
      await denied(auditor.locks.acquire("tenant-a/audit/job", lease.id));
      await denied(firstWatchEvent(auditor, "tenant-a/audit/"));
      await denied(auditor.admin.state());
    });
    it("without a credential, or with an unknown one: error UNAUTHENTICATED, then close 4003", async () => {
      const server = await target.start();
      const before = (await inspectOver(server.url, TOKENS.admin)).sessions.map((session) => session.session);
      await expect(startClient(server.url)).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
      await expect(startClient(server.url, { auth: "no-such-token-0123456789" })).rejects.toBeInstanceOf(PermissionError);

      for (const auth of [undefined, "", "wrong-token-0123456789", TOKENS.tenantA.slice(0, -1)]) {
        const raw = await Raw.open(server.url);
        raw.send({ op: "hello", version: 1, auth });
        const closed = await raw.closed();
        expect(closed.code).toBe(CloseCode.UNAUTHENTICATED);
        expect(raw.received).toEqual([expect.objectContaining({ type: "error", code: ErrorCode.UNAUTHENTICATED })]);
      }
      // No session was opened by any of them.
      expect((await inspectOver(server.url, TOKENS.admin)).sessions.filter((session) => !before.includes(session.session))).toEqual([]);
    });
    it("a session can be resumed only by the principal that opened it", async () => {
      const server = await target.start();
      const first = await Raw.open(server.url);
      const welcome = await first.hello(TOKENS.tenantA);
      first.socket.terminate();
      const resume = { session: welcome.session, secret: welcome.secret };
      // Another principal holding the secret gets a new session of its own, not tenant-a's.
      const thief = await Raw.open(server.url);
      thief.send({ op: "hello", version: 1, auth: TOKENS.tenantB, resume });
      expect(await thief.next((message) => message.type === "welcome")).toMatchObject({ resumed: false });
      const owner = await Raw.open(server.url);
      owner.send({ op: "hello", version: 1, auth: TOKENS.tenantA, resume });
      expect(await owner.next((message) => message.type === "welcome")).toMatchObject({ resumed: true, session: welcome.session });
    });
    it("an admin lists everything, force-releases a lock (the holder's signal aborts, reason revoked) and revokes a lease", async () => {
      const server = await target.start();
      const holder = await startClient(server.url, { auth: TOKENS.tenantA });
      const waiter = await startClient(server.url, { auth: TOKENS.tenantA });
      const admin = await startClient(server.url, { auth: TOKENS.admin });
      const lease = await holder.leases.grant(10_000);
      const lock = await holder.locks.acquire("tenant-a/admin/job", lease.id);
      const queued = waiter.locks.acquire("tenant-a/admin/job", (await waiter.leases.grant(10_000)).id, { wait: true });
      await holder.put("tenant-a/admin/state", "running");

      const state = await admin.admin.state();
      // Every principal's sessions and locks (a cluster's other tests may have some of their own).
      expect(state.sessions.map((session) => session.session)).toEqual(expect.arrayContaining([holder.sessionId, waiter.sessionId, admin.sessionId]));
      expect(state.locks.filter((entry) => entry.name.startsWith("tenant-a/admin/"))).toEqual([expect.objectContaining({ name: "tenant-a/admin/job", holders: [expect.objectContaining({ token: lock.token })], waiters: [expect.anything()] })]);

      expect(await admin.admin.forceRelease("tenant-a/admin/job")).toBe(true);
      const granted = await queued;
      expect(granted.acquired).toBe(true);
      expect(granted.token!).toBeGreaterThan(lock.token!);
      expect(lock.signal.aborted).toBe(true);
      expect(lock.signal.reason).toBeInstanceOf(LockLostError);
      expect(String((lock.signal.reason as Error).message)).toContain("revoked");

      const other = await holder.leases.grant(10_000);
      expect(await admin.admin.revokeLease(other.id)).toBe(true);
      await expect.poll(() => other.signal.aborted).toBe(true);
      expect(other.signal.reason).toBeInstanceOf(LeaseExpiredError);
      expect(String((other.signal.reason as Error).message)).toContain("revoked");
    });
  });

  describe(`JWT tickets (${target.name})`, () => {
    it("requests sent right behind the hello wait for the ticket's check and are answered in order", async () => {
      const server = await target.start();
      const raw = await Raw.open(server.url);
      raw.send({ op: "hello", version: 1, auth: await mintJwt(JWT_KEY, "HS256") });
      const ids = [raw.fire({ op: "counter.add", name: "tenant-a/pipelined/n", delta: 1 }), raw.fire({ op: "counter.add", name: "tenant-b/pipelined/n", delta: 1 })];
      await raw.next((message) => message.type === "error" && message.id === ids[1]);
      expect(raw.received.map((message) => message.type)).toEqual(["welcome", "reply", "error"]);
      expect(raw.received[1]).toMatchObject({ id: ids[0], result: { value: 1 } });
      expect(raw.received[2]).toMatchObject({ id: ids[1], code: ErrorCode.PERMISSION_DENIED });
    });
  });

  describe(`principal names are unique (${target.name})`, () => {
    it("a JWT whose sub equals a token's name does not resume that token's session, and is named jwt:<sub>", async () => {
      const server = await target.start();
      const lookalike = await mintJwt(JWT_KEY, "HS256", { sub: "tenant-a", permissions: [{ prefix: "tenant-a/", allow: TENANT_RIGHTS }] });
      expect(await resumedBy(server.url, TOKENS.tenantA, lookalike)).toBe(false);
      expect(await resumedBy(server.url, lookalike, TOKENS.tenantA)).toBe(false);
      // The same credential kind and name still resumes (the check does not refuse everything).
      expect(await resumedBy(server.url, TOKENS.tenantA, TOKENS.tenantA)).toBe(true);
      expect(await resumedBy(server.url, lookalike, await mintJwt(JWT_KEY, "HS256", { sub: "tenant-a" }))).toBe(true);

      const tab = await Raw.open(server.url);
      await tab.hello(lookalike);
      const refused = await tab.request({ op: "kv.get", key: "tenant-b/secret" });
      expect(refused).toMatchObject({ type: "error", code: ErrorCode.PERMISSION_DENIED });
      expect(refused.type === "error" && refused.message).toMatch(/^jwt:tenant-a may not kv\.get "tenant-b\/secret"/);
    });
  });
}

/** Expects the promise to fail with PERMISSION_DENIED (a PermissionError). */
async function denied(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(error, "expected PERMISSION_DENIED").toBeInstanceOf(PermissionError);
  expect((error as PermissionError).code).toBe(ErrorCode.PERMISSION_DENIED);
}

async function firstWatchEvent(client: LeaseholdClient, prefix: string) {
  const watch = client.watch(prefix);
  try {
    return await watch[Symbol.asyncIterator]().next();
  } finally {
    watch.close();
  }
}

/** Opens a session as `auth`, then tries to resume it on a second connection with `resumeAs`. */
async function resumedBy(url: string, auth: string, resumeAs: string): Promise<boolean> {
  const owner = await Raw.open(url);
  const welcome = await owner.hello(auth);
  owner.socket.terminate();
  const other = await Raw.open(url);
  other.send({ op: "hello", version: PROTOCOL_VERSION, auth: resumeAs, resume: { session: welcome.session, secret: welcome.secret } });
  const answer = await other.next((message) => message.type === "welcome");
  return answer.type === "welcome" && answer.resumed;
}
