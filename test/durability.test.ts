import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { ConnectionError, ErrorCode, type LeaseholdClient } from "@leasehold/client";
import { SqliteStorage, StorageError, createServer } from "@leasehold/server";
import { CloseCode } from "@leasehold/protocol";
import { defer, spawnScript, startClient, startServer } from "./support/fixtures.js";
import { Raw } from "./support/raw.js";
import { freePort, runServerToExit, startServerProcess } from "./support/server-process.js";

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-data-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function exited(child: { process: import("node:child_process").ChildProcess }): Promise<number | null> {
  const process = child.process;
  if (process.exitCode !== null || process.signalCode !== null) return process.exitCode;
  return new Promise((resolve) => process.once("exit", (code) => resolve(code)));
}

const isUnknown = (error: unknown) => error instanceof ConnectionError && error.code === ErrorCode.OUTCOME_UNKNOWN;

describe("durability", () => {
  // `--sync process` skips the fsync per commit: a killed process loses nothing all the same (the
  // operating system still has every write); only a power loss or kernel crash could.
  it.each([["full"], ["process"]])("with --sync %s, keeps every acknowledged change through a SIGKILL in the middle of a load, and never reuses a revision or token", async (sync) => {
    const dir = dataDir();
    const port = await freePort();
    const first = await startServerProcess(["--port", String(port), "--data", dir, "--sync", sync]);
    const clients = await Promise.all(Array.from({ length: 8 }, () => startClient(first.url)));
    const acked = { keys: new Map<string, number>(), increments: 0, revisions: [] as number[], tokens: [] as number[] };
    const unknown = { keys: new Set<string>(), increments: 0 };
    let stop = false;
    const work = async (client: LeaseholdClient, index: number) => {
      const lease = await client.leases.grant(20_000);
      for (let n = 0; !stop; n++) {
        const key = `load:${index}:${n}`;
        await client.put(key, n).then(
          ({ revision }) => {
            acked.keys.set(key, n);
            acked.revisions.push(revision);
          },
          (error) => {
            if (!isUnknown(error)) throw error;
            unknown.keys.add(key);
          },
        );
        await client.counters.increment("load:total", 1).then(
          () => acked.increments++,
          (error) => {
            if (!isUnknown(error)) throw error;
            unknown.increments++;
          },
        );
        const lock = await client.locks.acquire("lock:load", lease.id, { wait: 5_000 });
        if (lock.acquired) {
          acked.tokens.push(lock.token!);
          await lock.release();
        }
      }
    };
    const workers = clients.map((client, index) => work(client, index));
    await vi.waitFor(() => expect(acked.keys.size).toBeGreaterThan(300), { timeout: 20_000, interval: 50 });

    first.child.process.kill("SIGKILL");
    await exited(first.child);
    const ackedBeforeKill = { keys: acked.keys.size, increments: acked.increments };
    const second = await startServerProcess(["--port", String(port), "--data", dir, "--sync", sync]);
    // The clients resume on their own and go on; let them run a little on the new process.
    await vi.waitFor(() => expect(acked.keys.size).toBeGreaterThan(ackedBeforeKill.keys + 50), { timeout: 20_000, interval: 50 });
    stop = true;
    await Promise.all(workers);

    const checker = await startClient(second.url);
    for (const [key, value] of acked.keys) {
      const entry = await checker.get(key);
      expect(entry?.value, key).toBe(value);
    }
    const total = await checker.counters.get("load:total");
    expect(total).toBeGreaterThanOrEqual(acked.increments);
    expect(total).toBeLessThanOrEqual(acked.increments + unknown.increments);
    // Revisions and tokens come from one counter: no two acknowledgements may share a number.
    const numbers = [...acked.revisions, ...acked.tokens];
    expect(new Set(numbers).size).toBe(numbers.length);
    // One exclusive lock's grants are serial (each recorded before its release is sent): tokens in
    // the order they were granted only grow, across the kill as well.
    expect(acked.tokens).toEqual([...acked.tokens].sort((a, b) => a - b));
    const { revision } = await checker.put("load:after", true);
    expect(revision).toBeGreaterThan(Math.max(...numbers));
  });

  it("a holder that comes back after a restart keeps its lock and token, and its waiters keep waiting in their order", async () => {
    const dir = dataDir();
    const port = await freePort();
    const first = await startServerProcess(["--port", String(port), "--data", dir]);
    const holder = await startClient(first.url);
    const waiters = await Promise.all([1, 2, 3].map(() => startClient(first.url)));
    // Longer than a restart of the server process takes (even on a busy machine), or the holder would rightly give up first.
    const ttl = 8_000;
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

    first.child.process.kill("SIGKILL");
    await exited(first.child);
    const second = await startServerProcess(["--port", String(port), "--data", dir]);
    const restartedAt = Number(second.child.lines.find((line) => typeof line.url === "string")?.receivedAt);
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

  it("a holder that does not come back after a restart loses its lock one TTL after the restart", async () => {
    const dir = dataDir();
    const port = await freePort();
    const first = await startServerProcess(["--port", String(port), "--data", dir]);
    const holder = spawnScript("./holder.ts", [first.url, "lock:gone", "2000"]);
    const acquired = await holder.next((line) => line.event === "acquired");
    const waiter = await startClient(first.url);
    const waiting = waiter.locks.acquire("lock:gone", (await waiter.leases.grant(20_000)).id, { wait: true });
    await vi.waitFor(async () => {
      const state = await waiter.admin.state();
      expect(state.locks.find((entry) => entry.name === "lock:gone")?.waiters).toHaveLength(1);
    });

    first.child.process.kill("SIGKILL");
    holder.process.kill("SIGKILL");
    await exited(first.child);
    const second = await startServerProcess(["--port", String(port), "--data", dir]);
    const restartedAt = Number(second.child.lines.find((line) => typeof line.url === "string")?.receivedAt);
    const lock = await waiting;
    const grantedAt = performance.now();
    expect(lock.acquired).toBe(true);
    expect(lock.token!).toBeGreaterThan(acquired.token as number);
    // Every lease got a fresh full TTL at the restart: not granted before it ran out.
    expect(grantedAt - restartedAt).toBeGreaterThanOrEqual(2_000 - 250);
    expect(grantedAt - restartedAt).toBeLessThan(2_000 + 3_000);
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
    await startServerProcess(["--port", String(port), "--data", dir]);
    await vi.waitFor(() => expect(events).toContain("reconnected"), { timeout: 10_000 });
    expect(events).not.toContain("expired");
    expect(lock.held).toBe(true);
    for (const [index, { revision }] of acked.entries()) {
      const entry = await client.get(`term:${index}`);
      expect(entry).toEqual({ value: index, revision });
    }
  });

  it("refuses a damaged database with a clear error and a non-zero exit, and leaves it as it was", async () => {
    const dir = dataDir();
    const damaged = "this is not a database, but somebody's data ".repeat(200);
    writeFileSync(join(dir, "leasehold.db"), damaged);
    const result = await runServerToExit(["--port", "0", "--data", dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/not a readable leasehold database/);
    expect(result.stdout).not.toMatch(/listening/);
    expect(readFileSync(join(dir, "leasehold.db"), "utf8")).toBe(damaged);
  });

  it("refuses LEASEHOLD_MEMORY=0 rather than silently running without durability", async () => {
    const result = await runServerToExit(["--port", "0", "--data", dataDir()], 20_000, { LEASEHOLD_MEMORY: "0" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/LEASEHOLD_MEMORY=0 is not understood/);
  });

  it("refuses a data directory that another server is using", async () => {
    const dir = dataDir();
    // The first server in this process (one child process fewer to start): to the second, it is another process all the same.
    await startServer({ dataDir: dir });
    const result = await runServerToExit(["--port", "0", "--data", dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/locked by another process/);
  });

  it("refuses a data directory it cannot create", async () => {
    const dir = dataDir();
    const blocker = join(dir, "file");
    writeFileSync(blocker, "");
    const result = await runServerToExit(["--port", "0", "--data", join(blocker, "data")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot create the data directory/);
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

  it("stops acknowledging when the disk is full: the write that did not fit is never confirmed", async () => {
    const dir = dataDir();
    mkdirSync(dir, { recursive: true });
    // A database file capped directly, below any logical quota: what a full disk does (--max-data-bytes
    // refuses writes before this; see test/hostile/data-quota.test.ts).
    const server = await createServer({ host: "127.0.0.1", port: 0, storage: new SqliteStorage(dir, { maxBytes: 256 * 1024 }) });
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
