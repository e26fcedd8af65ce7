import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { LeaseholdClient } from "@leasehold/client";
import { nodeCommand, runCli, startCli } from "../support/cli-process.js";
import { defer, startClient, startServer } from "../support/fixtures.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";
import { freePort } from "../support/server-process.js";
import { TcpProxy } from "../support/tcp-proxy.js";

// `leasehold lock NAME -- command`, run as a shell script would: the real CLI in its own process
// against a real server, its command a real child process of it.

describe("leasehold lock: the command and its exit status", () => {
  it("runs the command with the lock's name, fencing token and lease in its environment, and exits with its status", async () => {
    const server = await startServer();
    const observer = await startClient(server.url);
    const dir = scratchDir();
    const cli = startCli(["lock", "jobs/report", "--url", server.url, "--", ...nodeCommand(`${printEnv} ${untilFile(join(dir, "done"))} process.exit(3);`)]);
    await cli.printed("jobs/report");
    const env = JSON.parse(cli.stdout().trim()) as Record<string, string>;
    expect(env.lock).toBe("jobs/report");
    const token = Number(env.token);
    expect((await observer.locks.query("jobs/report")).held).toHaveLength(1);
    // The token is the grant's own: a write fenced with it is accepted while the command runs.
    await expect(observer.put("report", "fenced", { fence: { lock: "jobs/report", token } })).resolves.toMatchObject({ revision: expect.any(Number) });
    expect(Number(env.lease)).toBeGreaterThan(0);
    writeFileSync(join(dir, "done"), "");
    expect(await cli.exited).toBe(3);
    // Given up when the command exited, at once (no TTL to wait for).
    expect((await observer.locks.query("jobs/report")).held).toHaveLength(0);
  });

  it("exits 128+N when the command dies of signal N", async () => {
    const server = await startServer();
    const { status } = await runCli(["lock", "x", "--url", server.url, "--", ...nodeCommand(`process.kill(process.pid, "SIGTERM"); setInterval(() => {}, 1000);`)]);
    expect(status).toBe(143);
  });

  it("runs the command without a shell: shell syntax reaches it as plain arguments", async () => {
    const server = await startServer();
    const { status, stdout } = await runCli(["lock", "x", "--url", server.url, "--", ...nodeCommand(`say(process.argv.slice(1).join("|"));`), "$HOME", "a;b", "*"]);
    expect(status).toBe(0);
    expect(stdout.trim()).toBe("$HOME|a;b|*");
  });

  it("exits 127 when the command does not exist", async () => {
    const server = await startServer();
    const { status, stderr } = await runCli(["lock", "x", "--url", server.url, "--", "/no/such/command"]);
    expect(status).toBe(127);
    expect(stderr).toContain("cannot run /no/such/command");
  });
});

describe("leasehold lock: not acquired, refused, unreachable", () => {
  it("exits 1 when --try finds the lock taken and when --wait runs out, or the status given with -E; the command never runs", async () => {
    const server = await startServer();
    const holder = await startClient(server.url);
    await holdLock(holder, "busy");
    const marker = join(scratchDir(), "ran");
    const command = nodeCommand(`require("node:fs").writeFileSync(${JSON.stringify(marker)}, "")`);
    const [refused, withE, waited] = await Promise.all([
      runCli(["lock", "busy", "--try", "--url", server.url, "--", ...command]),
      runCli(["lock", "busy", "--try", "-E", "7", "--url", server.url, "--", ...command]),
      runCli(["lock", "busy", "--wait", "300ms", "--url", server.url, "--", ...command]),
    ]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("it is held (--try)");
    expect(withE.status).toBe(7);
    expect(waited.status).toBe(1);
    expect(waited.stderr).toContain("the wait ran out");
    expect(existsSync(marker)).toBe(false);
  });

  it("exits 64 on a usage error: an unknown flag, --try with --wait, a bad duration, no command", async () => {
    const server = await startServer();
    const mistakes = [["--bogus", "--", "true"], ["--try", "--wait", "1s", "--", "true"], ["--wait", "soon", "--", "true"], ["--shared", "--limit", "2", "--", "true"], []];
    // Independent runs, started together: each CLI start costs a second or more on a loaded machine.
    const runs = await Promise.all(mistakes.map((args) => runCli(["lock", "x", "--url", server.url, ...args])));
    for (const [index, run] of runs.entries()) expect(run.status, `${mistakes[index]?.join(" ")}: ${run.stderr}`).toBe(64);
  });

  it("exits 69 when no server answers at any of the URLs", async () => {
    const [first, second] = [await freePort(), await freePort()];
    const { status, stderr } = await runCli(["lock", "x", "--", "true"], { LEASEHOLD_URL: `ws://127.0.0.1:${first},ws://127.0.0.1:${second}` });
    expect(status).toBe(69);
    expect(stderr).toContain(`ws://127.0.0.1:${second}`);
  });

  it("tries the URLs in order and takes the lock at the first that answers", async () => {
    const server = await startServer();
    const { status } = await runCli(["lock", "x", "--url", `ws://127.0.0.1:${await freePort()}`, "--url", server.url, "--", "true"]);
    expect(status).toBe(0);
  });

  it("exits 77 when the credential is refused or the principal may not lock the name", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
    const [unknown, notAllowed, allowed] = await Promise.all([
      runCli(["lock", "tenant-a/x", "--url", server.url, "--", "true"], { LEASEHOLD_TOKEN: "no-such-token-0123456789" }),
      runCli(["lock", "tenant-b/x", "--url", server.url, "--token", TOKENS.tenantA, "--", "true"]),
      runCli(["lock", "tenant-a/x", "--url", server.url, "--", "true"], { LEASEHOLD_TOKEN: TOKENS.tenantA }),
    ]);
    expect(unknown.status).toBe(77);
    expect(notAllowed.status).toBe(77);
    expect(allowed.status).toBe(0);
  });
});

describe("leasehold lock: signals", () => {
  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("exits %s's status when interrupted while queued, and leaves the queue", async (signal, status) => {
    const server = await startServer();
    const holder = await startClient(server.url);
    await holdLock(holder, "queue");
    const cli = startCli(["lock", "queue", "--url", server.url, "--", "true"]);
    await vi.waitFor(async () => expect((await holder.locks.query("queue")).pending).toHaveLength(1), { timeout: 15_000 });
    cli.process.kill(signal);
    expect(await cli.exited).toBe(status);
    expect((await holder.locks.query("queue")).pending).toHaveLength(0);
  });

  it("passes SIGINT, SIGTERM and SIGHUP on to the command", async () => {
    const server = await startServer();
    const cli = startCli([
      "lock", "x", "--url", server.url, "--",
      ...nodeCommand(`let got = []; for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(s, () => { got.push(s); say("got " + s); if (got.length === 3) process.exit(42); }); say("ready"); setInterval(() => {}, 1000);`),
    ]);
    await cli.printed("ready");
    for (const signal of ["SIGHUP", "SIGINT", "SIGTERM"] as const) {
      cli.process.kill(signal);
      await cli.printed(`got ${signal}`);
    }
    expect(await cli.exited).toBe(42);
  });
});

describe("leasehold lock: a loss while the command runs", () => {
  it("stops the command with SIGTERM, then SIGKILL after --kill-after, and exits 75, when the connection is cut", async () => {
    const server = await startServer();
    const proxy = TcpProxy.forUrl(server.url);
    const proxyUrl = await proxy.start();
    defer(() => proxy.close());
    const waiter = await startClient(server.url);
    // The command ignores SIGTERM: only the SIGKILL after --kill-after ends it.
    const cli = startCli([
      "lock", "cut", "--ttl", "600ms", "--kill-after", "400ms", "--url", proxyUrl, "--",
      ...nodeCommand(`process.on("SIGTERM", () => say("term at " + Date.now())); say("ready"); setInterval(() => {}, 1000);`),
    ]);
    await cli.printed("ready");
    proxy.blackhole();
    await cli.printed("term at", 5_000);
    const termAt = Number(/term at (\d+)/.exec(cli.stdout())?.[1]);
    expect(await cli.exited).toBe(75);
    expect(Date.now() - termAt).toBeGreaterThanOrEqual(400);
    expect(cli.stderr()).toContain("stopping");
    // The server hands the lock on once the lease's TTL has passed there.
    const lease = await waiter.leases.grant(5_000);
    const next = await waiter.locks.acquire("cut", lease.id, { wait: 5_000 });
    expect(next.acquired).toBe(true);
  });

  it("exits 69 when the connection is lost while queued, before the grant; the command never runs", async () => {
    const server = await startServer();
    const proxy = TcpProxy.forUrl(server.url);
    const proxyUrl = await proxy.start();
    defer(() => proxy.close());
    const holder = await startClient(server.url);
    await holdLock(holder, "queued-cut");
    const cli = startCli(["lock", "queued-cut", "--ttl", "600ms", "--url", proxyUrl, "--", ...nodeCommand(`say("ran")`)]);
    await vi.waitFor(async () => expect((await holder.locks.query("queued-cut")).pending).toHaveLength(1), { timeout: 15_000 });
    proxy.blackhole();
    expect(await cli.exited).toBe(69);
    expect(cli.stdout()).not.toContain("ran");
    // The client's own deadline fired while it waited: it says so rather than wait for a grant it cannot keep.
    expect(cli.stderr()).toContain("no word from the server");
  });

  it("exits 75 when an admin releases the lock, even though the command then exits 0; the next holder waits out the lock-delay", async () => {
    const server = await startServer();
    const admin = await startClient(server.url);
    const cli = startCli([
      "lock", "revoked", "--kill-after", "200ms", "--url", server.url, "--",
      ...nodeCommand(`process.on("SIGTERM", () => { say("term"); process.exit(0); }); say("ready"); setInterval(() => {}, 1000);`),
    ]);
    await cli.printed("ready");
    const lease = await admin.leases.grant(10_000);
    const next = admin.locks.acquire("revoked", lease.id, { wait: true });
    await vi.waitFor(async () => expect((await admin.locks.query("revoked")).pending).toHaveLength(1));
    const releasedAt = performance.now();
    expect(await admin.admin.forceRelease("revoked")).toBe(true);
    await cli.printed("term");
    expect(await cli.exited).toBe(75);
    // The CLI asked for a lock-delay of --kill-after + 1 s: nobody is granted before it has passed.
    expect((await next).acquired).toBe(true);
    expect(performance.now() - releasedAt).toBeGreaterThanOrEqual(1_200);
  });
});

describe("leasehold lock: two processes on one name", () => {
  it("run their commands one after the other, in the order they queued", async () => {
    const server = await startServer();
    const holder = await startClient(server.url);
    const first = await holdLock(holder, "serial");
    const log = join(scratchDir(), "log");
    writeFileSync(log, "");
    const command = (who: string) =>
      nodeCommand(`const fs = require("node:fs"); fs.appendFileSync(${JSON.stringify(log)}, "${who} start\\n"); setTimeout(() => fs.appendFileSync(${JSON.stringify(log)}, "${who} end\\n"), 300);`);
    const a = startCli(["lock", "serial", "--url", server.url, "--", ...command("a")]);
    await vi.waitFor(async () => expect((await holder.locks.query("serial")).pending).toHaveLength(1), { timeout: 15_000 });
    const b = startCli(["lock", "serial", "--url", server.url, "--", ...command("b")]);
    await vi.waitFor(async () => expect((await holder.locks.query("serial")).pending).toHaveLength(2), { timeout: 15_000 });
    await first.release();
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(["a start", "a end", "b start", "b end"]);
  });
});

const printEnv = `say(JSON.stringify({ lock: process.env.LEASEHOLD_LOCK, token: process.env.LEASEHOLD_FENCING_TOKEN, lease: process.env.LEASEHOLD_LEASE }));`;

/** Script text: wait until `file` exists (the test's signal to go on). */
function untilFile(file: string): string {
  return `while (!require("node:fs").existsSync(${JSON.stringify(file)})) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); }`;
}

async function holdLock(client: LeaseholdClient, name: string) {
  const lease = await client.leases.grant(10_000);
  const lock = await client.locks.acquire(name, lease.id);
  expect(lock.acquired).toBe(true);
  return lock;
}

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-cli-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
