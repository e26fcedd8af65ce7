import { fsync, mkdirSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { ErrorCode } from "@leasehold/client";
import { BackgroundSyncSqliteStorage, SqliteStorage, StorageError, createServer } from "@leasehold/server";
import { CloseCode, FakeClock } from "@leasehold/protocol";
import { crashAndRestart, dataDir, defer, startClient, startServer } from "./support/fixtures.js";
import { Raw } from "./support/raw.js";
import { exited, freePort, startServerProcess } from "./support/server-process.js";

describe("durability", () => {
  // The next two restart an in-process server on the same data directory and port, stopped as a crash
  // stops it (crashAndRestart): nothing pending is committed or answered. A process start took up to
  // 8 s on this loaded machine, which the holder's lease had to outlast and then the test waited a
  // further TTL: 16 s and 11 s; now about 4 s and under 1 s. Death by SIGKILL is the job of the load tests (durability-sigkill.test.ts).
  it("a holder that comes back after a restart keeps its lock and token, and its waiters keep waiting in their order", async () => {
    const dir = dataDir();
    const first = await startServer({ dataDir: dir });
    const holder = await startClient(first.url);
    const waiters = await Promise.all([1, 2, 3].map(() => startClient(first.url)));
    // Longer than the clients' time away (an in-process restart and the reconnect backoff: well under
    // 1 s at a load of 20), or the holder would rightly give up first.
    const ttl = 3_000;
    const lease = await holder.leases.grant(ttl);
    const lock = await holder.locks.acquire("lock:restart", lease.id);
    const grants: { waiter: number; token: number }[] = [];
    const waits: Promise<void>[] = [];
    for (const [index, waiter] of waiters.entries()) {
      const waiterLease = await waiter.leases.grant(ttl);
      waits.push(
        waiter.locks.acquire("lock:restart", waiterLease.id, { wait: true }).then(async (granted) => {
          grants.push({ waiter: index, token: granted.token! });
          await granted.release();
        }),
      );
      // Queued one after another: each wait is on disk once its queue place is visible to another client.
      await vi.waitFor(async () => {
        const state = await holder.admin.state();
        expect(state.locks.find((entry) => entry.name === "lock:restart")?.waiters).toHaveLength(index + 1);
      });
    }
    const reconnected = Promise.all([holder, ...waiters].map((client) => new Promise<void>((resolve) => client.addEventListener("reconnected", () => resolve(), { once: true }))));

    await crashAndRestart(first, dir);
    const restartedAt = performance.now();
    await reconnected;
    // Past a full TTL after the restart: the holder's heartbeats keep its lease, so the waiter still waits.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, restartedAt + ttl + 500 - performance.now())));
    expect(lock.signal.aborted).toBe(false);
    expect(grants).toEqual([]);
    const state = await holder.admin.state();
    expect(state.locks.find((entry) => entry.name === "lock:restart")?.holders.map((hold) => hold.token)).toEqual([lock.token]);

    // The restored queue hands the lock on in the order the waits were made, with growing tokens.
    await lock.release();
    await Promise.all(waits);
    expect(grants.map((grant) => grant.waiter)).toEqual([0, 1, 2]);
    const tokens = [lock.token!, ...grants.map((grant) => grant.token)];
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it("a holder that does not come back after a restart loses its lock one TTL after the restart, not before", async () => {
    const dir = dataDir();
    const first = await startServer({ dataDir: dir });
    // A raw socket as the holder: once the server is gone it never comes back.
    const holder = await Raw.open(first.url);
    await holder.hello();
    const holderLease = await holder.grant(2_000);
    const acquired = await holder.request({ op: "lock.acquire", name: "lock:gone", lease: holderLease });
    expect(acquired).toMatchObject({ type: "reply", result: { acquired: true, token: expect.any(Number) } });
    const holderToken = acquired.type === "reply" ? Number(acquired.result.token) : Number.NaN;
    const waiter = await startClient(first.url);
    const waiting = waiter.locks.acquire("lock:gone", (await waiter.leases.grant(20_000)).id, { wait: true });
    await vi.waitFor(async () => {
      const state = await waiter.admin.state();
      expect(state.locks.find((entry) => entry.name === "lock:gone")?.waiters).toHaveLength(1);
    });
    const reconnected = new Promise<void>((resolve) => waiter.addEventListener("reconnected", () => resolve(), { once: true }));

    // The restarted server on fake time: "one TTL after the restart" to the millisecond, however busy the machine.
    const clock = new FakeClock(0);
    const second = await crashAndRestart(first, dir, { clock });
    await reconnected;
    let granted = false;
    void waiting.then(() => (granted = true));
    const holders = async () => (await waiter.admin.state()).locks.find((entry) => entry.name === "lock:gone")?.holders ?? [];
    // Every lease got a fresh full TTL at the restart: not granted a millisecond before it ran out...
    clock.advance(2_000 - 1);
    expect(await holders()).toHaveLength(1);
    expect(granted).toBe(false);
    // ...and granted when it does, with a greater token.
    clock.advance(1);
    const lock = await waiting;
    expect(lock.acquired).toBe(true);
    expect(lock.token!).toBeGreaterThan(holderToken);
    expect(second.url).toBe(first.url);
  });

  it("SIGTERM commits everything, tells clients to resume, and exits 0; nothing acknowledged is lost", async () => {
    const dir = dataDir();
    const port = await freePort();
    const first = await startServerProcess(["--port", String(port), "--data", dir]);
    const client = await startClient(first.url);
    const lease = await client.leases.grant(20_000);
    const lock = await client.locks.acquire("lock:term", lease.id);
    const puts = Array.from({ length: 200 }, (_, index) => client.put(`term:${index}`, index));
    const acked = await Promise.all(puts);
    const events: string[] = [];
    for (const name of ["disconnected", "reconnected", "expired"]) client.addEventListener(name, () => events.push(name));

    first.child.process.kill("SIGTERM");
    expect(await exited(first.child)).toBe(0);
    // What the process committed is read by a server in this process (as in the SIGKILL tests, durability-sigkill.test.ts).
    await startServer({ port, dataDir: dir });
    await vi.waitFor(() => expect(events).toContain("reconnected"), { timeout: 10_000 });
    expect(events).not.toContain("expired");
    expect(lock.held).toBe(true);
    for (const [index, { revision }] of acked.entries()) {
      const entry = await client.get(`term:${index}`);
      expect(entry).toEqual({ value: index, revision });
    }
  });

  it("sends the message before a close (a bye's reply, a refusal) before closing, although messages wait for their commit", async () => {
    const server = await createServer({ host: "127.0.0.1", port: 0, dataDir: dataDir() });
    defer(() => server.close());
    const leaving = await Raw.open(server.url);
    await leaving.hello();
    await leaving.grant(5_000);
    const byeId = leaving.fire({ op: "bye" });
    expect(await leaving.closed()).toMatchObject({ code: CloseCode.NORMAL });
    expect(leaving.received.some((message) => message.type === "reply" && message.id === byeId)).toBe(true);

    const refused = await Raw.open(server.url);
    refused.send({ op: "hello", version: 999 });
    expect(await refused.closed()).toMatchObject({ code: CloseCode.UNSUPPORTED_VERSION });
    expect(refused.errorsBeforeClose()).toEqual([expect.objectContaining({ code: ErrorCode.UNSUPPORTED_VERSION })]);
  });

  it("answers a change only once its fsync has ended, and goes on handling requests while the fsync runs", async () => {
    const dir = dataDir();
    // An fsync held by the test: what a slow disk does, for as long as the test wants.
    const fsyncs: ((error: null) => void)[] = [];
    let holding = true;
    const storage = new BackgroundSyncSqliteStorage(dir, { fsync: (fd, done) => (holding ? fsyncs.push(done) : fsync(fd, done)), fsyncIn: "pool" });
    const server = await startServer({ storage });
    // Closing the server commits (and fsyncs) what the session's end changed.
    defer(() => {
      holding = false;
      for (const done of fsyncs.splice(0)) done(null);
    });
    const connecting = startClient(server.url);
    // The session's own row is committed before the welcome: its fsync is the first.
    await vi.waitFor(() => expect(fsyncs).toHaveLength(1));
    fsyncs.shift()?.(null);
    const client = await connecting;
    let answered = false;
    const put = client.put("during", 2).then(() => (answered = true));
    await vi.waitFor(() => expect(fsyncs).toHaveLength(1));
    // Applied, written, not yet fsync'd: no answer. This test shares the server's thread, so none of
    // these turns would run if the fsync held it.
    expect(server.coordinator.shared.kv.get("during")).toBeDefined();
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    fsyncs.shift()?.(null);
    await put;
    expect(answered).toBe(true);
  });

  it("on a fast disk, fsyncs each commit inline and answers right after it, without the thread pool", async () => {
    const dir = dataDir();
    const order: string[] = [];
    // The pool's fsync never ends: an answer can only come from the inline one.
    const pooled: ((error: null) => void)[] = [];
    const storage = new BackgroundSyncSqliteStorage(dir, { fsync: (_, done) => void pooled.push(done), fsyncInline: () => void order.push("fsync") });
    const server = await startServer({ storage });
    defer(() => {
      for (const done of pooled.splice(0)) done(null);
    });
    const client = await startClient(server.url);
    order.length = 0;
    await client.put("fast", 1);
    order.push("answered");
    expect(order).toEqual(["fsync", "answered"]);
    expect(pooled).toEqual([]);
  });

  it.each([
    ["on the event loop", (dir: string) => new SqliteStorage(dir, { maxBytes: 256 * 1024 })],
    ["with its fsync off the event loop", (dir: string) => new BackgroundSyncSqliteStorage(dir, { maxBytes: 256 * 1024 })],
  ])("stops acknowledging when the disk is full (SQLite %s): the write that did not fit is never confirmed", async (_, openStorage) => {
    const dir = dataDir();
    mkdirSync(dir, { recursive: true });
    // A database file capped directly, below any logical quota: what a full disk does (--max-data-bytes
    // refuses writes before this; see test/hostile/data-quota.test.ts).
    const server = await createServer({ host: "127.0.0.1", port: 0, storage: openStorage(dir) });
    defer(() => server.close());
    const client = await startClient(server.url);
    const big = "x".repeat(20_000);
    const acked: string[] = [];
    let unconfirmed: string | undefined;
    let unconfirmedSettled = false;
    for (let index = 0; index < 100 && unconfirmed === undefined; index++) {
      const key = `big:${index}`;
      const put = client.put(key, big);
      const outcome = await Promise.race([put.then(() => "acked" as const), server.failed.then(() => "failed" as const)]);
      if (outcome === "acked") acked.push(key);
      else {
        unconfirmed = key;
        // Until the server closes, the put must stay unanswered: no reply for a write that is not on disk.
        put.then(
          () => (unconfirmedSettled = true),
          () => {},
        );
      }
    }
    const failure = await server.failed;
    expect(failure).toBeInstanceOf(StorageError);
    expect(failure.message).toMatch(/full/);
    expect(unconfirmed).toBeDefined();
    expect(acked.length).toBeGreaterThan(0);
    // The write that failed is never confirmed, however long the client waits.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(unconfirmedSettled).toBe(false);
    await server.close();
    // What was acknowledged is all there after a restart, and the write that did not fit is not.
    const again = await createServer({ host: "127.0.0.1", port: 0, dataDir: dir });
    defer(() => again.close());
    const checker = await startClient(again.url);
    for (const key of acked) expect((await checker.get(key))?.value).toBe(big);
    expect(await checker.get(unconfirmed as string)).toBeNull();
  });
});
