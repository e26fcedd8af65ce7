import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { LeaseholdClient, Lock } from "@leasehold/client";
import { BOUNDS, ErrorCode } from "@leasehold/protocol";
import { createServer } from "@leasehold/server";
import { defer, startClient, startServer } from "./support/fixtures.js";
import { STATIC_TOKENS, TOKENS } from "./support/security.js";
import { inspectOver, lockIn } from "./support/inspect.js";

/**
 * `client.locks.request` against the Web Locks API's behaviour (the specification and the
 * web-platform-tests `web-locks` directory): the shape, the lock's attributes, and every argument
 * checked before anything is queued, with the same errors in the same order. Issue 17.
 */

const noop = () => undefined;

/** Each call is made while another client holds the lock: a call that queued would hang, not fail. */
const refusals: [string, (...args: unknown[]) => unknown[], string][] = [
  ["no arguments", () => [], "TypeError"],
  ["a name but no callback", (name) => [name], "TypeError"],
  ["a callback that is not a function", (name) => [name, {}, "not a function"], "TypeError"],
  ["a callback that is not a function, without options", (name) => [name, 42], "TypeError"],
  ["options that are not an object", (name) => [name, "exclusive", noop], "TypeError"],
  ["an unknown mode", (name) => [name, { mode: "shard" }, noop], "TypeError"],
  // WebIDL converts the options (mode) before the callback, and both before the algorithm's own checks.
  ["an unknown mode and a bad callback: the mode is named first", (name) => [name, { mode: "shard" }, null], "TypeError:mode"],
  ["a name starting with '-'", () => ["-reserved", noop], "NotSupportedError"],
  ["signal together with ifAvailable", (name) => [name, { signal: new AbortController().signal, ifAvailable: true }, noop], "NotSupportedError"],
  ["steal with a signal", (name) => [name, { steal: true, signal: new AbortController().signal }, noop], "NotSupportedError"],
  ["steal with ifAvailable", (name) => [name, { steal: true, ifAvailable: true }, noop], "NotSupportedError"],
  ["steal in shared mode", (name) => [name, { steal: true, mode: "shared" }, noop], "NotSupportedError"],
  ["a '-' name with a bad callback: the callback is named first", () => ["-reserved", {}, 1], "TypeError"],
  ["a signal already aborted", (name) => [name, { signal: AbortSignal.abort(new Error("gave up")) }, noop], "Error:gave up"],
];

describe("locks.request, shaped like navigator.locks.request", () => {
  it("takes (name, callback) with no options, and resolves with the callback's result", async () => {
    const server = await startServer();
    const client = await startClient(server.url);
    const seen: (string | null)[] = [];
    const result = await client.locks.request("lock:no-options", (lock) => {
      seen.push(lock?.name ?? null, lock?.mode ?? null);
      return "done";
    });
    expect(result).toBe("done");
    expect(seen).toEqual(["lock:no-options", "exclusive"]);
  });

  it("gives the callback a lock with its mode, as asked", async () => {
    const server = await startServer();
    const client = await startClient(server.url);
    expect(await client.locks.request("lock:mode", { mode: "shared" }, (lock) => lock?.mode)).toBe("shared");
    expect(await client.locks.request("lock:mode", { mode: "exclusive" }, (lock) => lock?.mode)).toBe("exclusive");
    const lease = await client.leases.grant(5_000);
    const lock = await client.locks.acquire("lock:mode", lease.id, { mode: "shared" });
    expect(lock.mode).toBe("shared");
  });

  it(`differs on names: the empty name and names past ${BOUNDS.maxNameLength} UTF-16 units are refused with a BadRequestError (OUT_OF_RANGE)`, async () => {
    const server = await startServer();
    const client = await startClient(server.url);
    for (const name of ["", "x".repeat(BOUNDS.maxNameLength + 1)]) {
      await expect(client.locks.request(name, noop)).rejects.toMatchObject({ code: ErrorCode.OUT_OF_RANGE });
    }
    expect(await client.locks.request("x".repeat(BOUNDS.maxNameLength), () => "granted")).toBe("granted");
  });

  for (const [what, args, expected] of refusals) {
    it(`refuses ${what} before anything is queued (${expected.split(":")[0]})`, async () => {
      const server = await startServer();
      const holder = await startClient(server.url);
      const name = `lock:refused`;
      const held = await holder.locks.acquire(name, (await holder.leases.grant(5_000)).id);
      expect(held.acquired).toBe(true);
      const client = await startClient(server.url);
      let called = false;
      const callArgs = args(name).map((arg) => (arg === noop ? () => void (called = true) : arg));
      const error = await requestWith(client, callArgs).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      const [kind, detail] = expected.split(":");
      expect(error, what).toBeInstanceOf(kind === "NotSupportedError" ? DOMException : kind === "TypeError" ? TypeError : Error);
      if (kind === "NotSupportedError") expect((error as DOMException).name).toBe("NotSupportedError");
      if (detail !== undefined) expect((error as Error).message).toContain(detail);
      expect(called).toBe(false);
      // Nothing reached the server: no waiter, no lease of the client's own.
      expect(lockIn(await inspectOver(server.url), name)?.waiters.length ?? 0).toBe(0);
      expect(client.leases.list()).toEqual([]);
    });
  }
});

describe("locks.request with steal", () => {
  it("takes the lock at once: the holder's request rejects with AbortError and its signal with LOCK_STOLEN; the queue keeps waiting", async () => {
    const server = await startServer();
    const [holder, thief, waiter] = await Promise.all([0, 1, 2].map(() => startClient(server.url)));
    const name = "lock:stolen";
    let held: Lock | undefined;
    const holding = holder!.locks.request(name, (lock) => {
      held = lock ?? undefined;
      return new Promise(() => {}); // works on, never finishes by itself
    });
    await expect.poll(() => held?.held).toBe(true);
    const holdingOutcome = holding.then(
      () => "resolved",
      (error: unknown) => error,
    );
    const waiting = waiter!.locks.request(name, (lock) => lock?.token);
    await expect.poll(async () => lockIn(await inspectOver(server.url), name)?.waiters.length).toBe(1);

    const stolenWith = await thief!.locks.request(name, { steal: true }, async (lock) => {
      // Granted at once, ahead of the waiter, with a newer token; the waiter still waits.
      expect(lockIn(await inspectOver(server.url), name)?.waiters.length).toBe(1);
      expect(await holdingOutcome).toMatchObject({ name: "AbortError" });
      expect(held!.held).toBe(false);
      expect(held!.signal.reason).toMatchObject({ code: ErrorCode.LOCK_STOLEN });
      return lock!.token!;
    });
    expect(stolenWith).toBeGreaterThan(held!.token!);
    // Released after the thief's callback: the waiter is next.
    expect(await waiting).toBeGreaterThan(stolenWith);
  });

  it("is stored like any grant: after a restart the thief holds the lock with its token and the waiter still waits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-steal-"));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const server = await createServer({ host: "127.0.0.1", port: 0, dataDir: dir });
    const [holder, thief, waiter] = await Promise.all([0, 1, 2].map(() => startClient(server.url, { autoReconnect: false })));
    const name = "lock:stolen-durably";
    const held = await holder!.locks.acquire(name, (await holder!.leases.grant(30_000)).id);
    waiter!.locks.acquire(name, (await waiter!.leases.grant(30_000)).id, { wait: true }).catch(() => {});
    await expect.poll(async () => lockIn(await inspectOver(server.url), name)?.waiters.length).toBe(1);
    const stolen = await thief!.locks.acquire(name, (await thief!.leases.grant(30_000)).id, { steal: true });
    await expect.poll(() => held.held).toBe(false);
    await server.close();

    const again = await createServer({ host: "127.0.0.1", port: 0, dataDir: dir });
    defer(() => again.close());
    const entry = lockIn(await inspectOver(again.url), name);
    expect(entry?.holders.map((hold) => hold.token)).toEqual([stolen.token]);
    expect(entry?.waiters).toHaveLength(1);
  });

  it("needs the steal right (admins have it); the server refuses steal with a wait, shared mode or a limit", async () => {
    const thiefToken = "thief-0123456789abcdef";
    const server = await startServer({
      auth: { tokens: [...STATIC_TOKENS, { name: "thief", token: thiefToken, permissions: [{ prefix: "tenant-a/", allow: ["lock", "steal"] }] }] },
    });
    const tenantA = await startClient(server.url, { auth: TOKENS.tenantA });
    await tenantA.locks.acquire("tenant-a/job", (await tenantA.leases.grant(10_000)).id);
    await expect(tenantA.locks.request("tenant-a/job", { steal: true }, noop)).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    const thief = await startClient(server.url, { auth: thiefToken });
    expect(await thief.locks.request("tenant-a/job", { steal: true }, (lock) => lock?.held)).toBe(true);
    const ops = await startClient(server.url, { auth: TOKENS.admin });
    expect(await ops.locks.request("tenant-b/job", { steal: true }, (lock) => lock?.held)).toBe(true);
    const lease = (await ops.leases.grant(10_000)).id;
    for (const options of [{ wait: true }, { mode: "shared" as const }]) {
      await expect(ops.locks.acquire("tenant-b/x", lease, { ...options, steal: true })).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    }
    await expect(ops.semaphores.locks.acquire("tenant-b/slots", lease, { steal: true }, 2)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
  });
});

describe("locks.query, shaped like navigator.locks.query", () => {
  it("lists holders in grant order and waiters in queue order, one clientId per client, under a prefix, semaphores aside", async () => {
    const server = await startServer();
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => startClient(server.url)));
    const [leaseA, leaseB, leaseC] = await Promise.all([a!, b!, c!].map((client) => client.leases.grant(10_000)));
    await b!.locks.acquire("q/second", leaseB!.id);
    await a!.locks.acquire("q/first", leaseA!.id, { mode: "shared" });
    await c!.locks.acquire("q/first", leaseC!.id, { mode: "shared" });
    await a!.semaphores.acquire("q/slots", leaseA!.id, { limit: 2 });
    await a!.locks.acquire("other/lock", leaseA!.id);
    // Queued in this order, across two names; still waiting when the clients close after the test.
    const waits = [
      c!.locks.acquire("q/second", leaseC!.id, { wait: true }),
      b!.locks.acquire("q/first", leaseB!.id, { wait: true }),
      a!.locks.acquire("q/second", leaseA!.id, { wait: true, mode: "shared" }),
    ];
    for (const wait of waits) wait.catch(() => {});
    await expect.poll(async () => lockIn(await inspectOver(server.url), "q/second")?.waiters.length).toBe(2);
    await expect.poll(async () => lockIn(await inspectOver(server.url), "q/first")?.waiters.length).toBe(1);

    const snapshot = await c!.locks.query("q/");
    expect(snapshot).toEqual({
      held: [
        { name: "q/second", mode: "exclusive", clientId: b!.sessionId },
        { name: "q/first", mode: "shared", clientId: a!.sessionId },
        { name: "q/first", mode: "shared", clientId: c!.sessionId },
      ],
      pending: [
        { name: "q/second", mode: "exclusive", clientId: c!.sessionId },
        { name: "q/first", mode: "exclusive", clientId: b!.sessionId },
        { name: "q/second", mode: "shared", clientId: a!.sessionId },
      ],
    });
    expect((await a!.locks.query()).held.map((lock) => lock.name)).toContain("other/lock");
    expect(await a!.locks.query("nothing/")).toEqual({ held: [], pending: [] });
  });

  it("lists only the names the principal holds the lock right over", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
    const tenantA = await startClient(server.url, { auth: TOKENS.tenantA });
    const tenantB = await startClient(server.url, { auth: TOKENS.tenantB });
    const ops = await startClient(server.url, { auth: TOKENS.admin });
    await tenantA.locks.acquire("tenant-a/job", (await tenantA.leases.grant(10_000)).id);
    await tenantB.locks.acquire("tenant-b/job", (await tenantB.leases.grant(10_000)).id);
    expect((await tenantA.locks.query()).held.map((lock) => lock.name)).toEqual(["tenant-a/job"]);
    expect((await tenantB.locks.query("tenant-a/")).held).toEqual([]);
    expect((await ops.locks.query()).held.map((lock) => lock.name)).toEqual(["tenant-a/job", "tenant-b/job"]);
  });
});

function requestWith(client: LeaseholdClient, args: unknown[]): Promise<unknown> {
  const request = client.locks.request as unknown as (...args: unknown[]) => Promise<Lock | null>;
  return request.apply(client.locks, args);
}
