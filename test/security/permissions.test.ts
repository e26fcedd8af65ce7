import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LeaseExpiredError, LockLostError, PermissionError, type LeaseholdClient } from "@leasehold/client";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { startClient, startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";
import type { ServerOptions } from "@leasehold/server";
import { inspectOver } from "../support/inspect.js";

// pino is a dependency of the server package, not of the workspace root: load it from there.
const { pino } = createRequire(new URL("../../packages/server/package.json", import.meta.url))("pino") as {
  pino: (options: { level: string }, stream: Writable) => NonNullable<ServerOptions["logger"]>;
};

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

describe("permissions by name prefix", () => {
  it("a token scoped to tenant-a/ locks, reads and watches under tenant-a/ and nowhere else; the connection stays", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
    const a = await startClient(server.url, { auth: TOKENS.tenantA });
    const b = await startClient(server.url, { auth: TOKENS.tenantB });
    const session = a.sessionId;

    // Its own names: everything works.
    const lease = await a.leases.grant(5_000);
    const lock = await a.locks.acquire("tenant-a/job", lease.id);
    expect(lock.acquired).toBe(true);
    const watch = a.watch("tenant-a/");
    const iterator = watch[Symbol.asyncIterator]();
    const firstEvent = iterator.next();
    await a.put("tenant-a/config", { v: 1 }, { fence: { lock: lock.name, token: lock.token! } });
    expect((await firstEvent).value).toMatchObject({ type: "put", key: "tenant-a/config" });
    watch.close();
    expect((await a.get("tenant-a/config"))?.value).toEqual({ v: 1 });
    expect((await a.list("tenant-a/")).map((item) => item.key)).toEqual(["tenant-a/config"]);
    expect(await a.counters.increment("tenant-a/count")).toBe(1);

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
    await denied(a.put("tenant-a/config", 2, { fence: { lock: bLock.name, token: bLock.token! } }));

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
    expect(await a.counters.increment("tenant-a/count")).toBe(2);
  });

  it("a read-only grant reads but cannot write, lock or watch", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
    const writer = await startClient(server.url, { auth: TOKENS.tenantA });
    await writer.put("tenant-a/report", "ready");
    const auditor = await startClient(server.url, { auth: TOKENS.auditor });
    expect((await auditor.get("tenant-a/report"))?.value).toBe("ready");
    expect((await auditor.list("")).length).toBe(1);
    const lease = await auditor.leases.grant(5_000);
    await denied(auditor.put("tenant-a/report", "changed"));
    await denied(auditor.locks.acquire("tenant-a/job", lease.id));
    await denied(firstWatchEvent(auditor, "tenant-a/"));
    await denied(auditor.admin.state());
  });

  it("without a credential, or with an unknown one: error UNAUTHENTICATED, then close 4003", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
    await expect(startClient(server.url)).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
    await expect(startClient(server.url, { auth: "no-such-token-0123456789" })).rejects.toBeInstanceOf(PermissionError);

    for (const auth of [undefined, "", "wrong-token-0123456789", TOKENS.tenantA.slice(0, -1)]) {
      const raw = await Raw.open(server.url);
      raw.send({ op: "hello", version: 1, auth });
      const closed = await raw.closed();
      expect(closed.code).toBe(CloseCode.UNAUTHENTICATED);
      expect(raw.received).toEqual([expect.objectContaining({ type: "error", code: ErrorCode.UNAUTHENTICATED })]);
    }
    expect((await inspectOver(server.url, TOKENS.admin)).sessions).toEqual([]);
  });

  it("a session can be resumed only by the principal that opened it", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
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
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
    const holder = await startClient(server.url, { auth: TOKENS.tenantA });
    const waiter = await startClient(server.url, { auth: TOKENS.tenantA });
    const admin = await startClient(server.url, { auth: TOKENS.admin });
    const lease = await holder.leases.grant(10_000);
    const lock = await holder.locks.acquire("tenant-a/job", lease.id);
    const queued = waiter.locks.acquire("tenant-a/job", (await waiter.leases.grant(10_000)).id, { wait: true });
    await holder.put("tenant-a/state", "running");

    const state = await admin.admin.state();
    expect(state.sessions.map((session) => session.session).sort()).toEqual([holder.sessionId, waiter.sessionId, admin.sessionId].sort());
    expect(state.locks).toEqual([expect.objectContaining({ name: "tenant-a/job", holders: [expect.objectContaining({ token: lock.token })], waiters: [expect.anything()] })]);

    expect(await admin.admin.forceRelease("tenant-a/job")).toBe(true);
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

  it("never writes a token or a JWT into the logs", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const server = await startServer({ auth: { tokens: STATIC_TOKENS }, logger: pino({ level: "debug" }, sink) });
    const good = await startClient(server.url, { auth: TOKENS.tenantA });
    await good.put("tenant-a/x", 1);
    await expect(good.get("tenant-b/x")).rejects.toBeInstanceOf(PermissionError);
    const wrong = "wrong-0123456789-secret-looking";
    await expect(startClient(server.url, { auth: wrong })).rejects.toBeInstanceOf(PermissionError);
    const jwtLike = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    await expect(startClient(server.url, { auth: jwtLike })).rejects.toBeInstanceOf(PermissionError);
    await expect.poll(() => lines.filter((line) => line.includes("not authenticated")).length).toBe(2);
    const log = lines.join("");
    for (const secret of [TOKENS.tenantA, wrong, jwtLike, "c2lnbmF0dXJl"]) expect(log).not.toContain(secret);
  });
});
