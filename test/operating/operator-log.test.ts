import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { PROTOCOL_VERSION } from "@leasehold/protocol";
import type { ServerOptions } from "@leasehold/server";
import { defer, startClient, startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { startServerProcess } from "../support/server-process.js";
import { startCli } from "../support/cli-process.js";
import { httpBase, scrape } from "../support/prometheus.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";

// pino is a dependency of the server package, not of the workspace root: load it from there.
const { pino } = createRequire(new URL("../../packages/server/package.json", import.meta.url))("pino") as {
  pino: (options: { level: string }, stream: Writable) => NonNullable<ServerOptions["logger"]>;
};

/** A logger whose JSON lines the test reads. */
function capturedLogger(): { logger: NonNullable<ServerOptions["logger"]>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

describe("operator log", () => {
  it("logs a lease expiry with how long it was silent, and an admin's release and revoke with who did it", async () => {
    const { logger, lines } = capturedLogger();
    const server = await startServer({ auth: { tokens: STATIC_TOKENS }, logger });
    const tenant = await startClient(server.url, { auth: TOKENS.tenantA });
    const ops = await startClient(server.url, { auth: TOKENS.admin });
    // A raw client: ours would give a lapsed lease back itself (released), never letting it expire.
    const silent = await Raw.open(server.url);
    await silent.hello(TOKENS.tenantA);
    const reply = await silent.request({ op: "lease.grant", ttl: 150, keepAlive: false });
    const short = reply.type === "reply" ? (reply.result as { lease: number }).lease : -1;
    await expect.poll(() => lines.find((line) => line.msg === "lease expired"), { timeout: 3_000 }).toMatchObject({ lease: short, ttl: 150 });
    const expired = lines.find((line) => line.msg === "lease expired")!;
    expect(expired.silentMs).toBeGreaterThanOrEqual(150);

    const lease = await tenant.leases.grant(5_000);
    await tenant.locks.acquire("tenant-a/job", lease.id);
    await ops.admin.forceRelease("tenant-a/job");
    await ops.admin.revokeLease(lease.id);
    expect(lines.find((line) => line.msg === "admin released a lock")).toMatchObject({ lock: "tenant-a/job", by: "token:ops" });
    expect(lines.find((line) => line.msg === "admin revoked a lease")).toMatchObject({ lease: lease.id, by: "token:ops" });
  });

  it("logs a session taken over by a new connection, with both addresses", async () => {
    const { logger, lines } = capturedLogger();
    const server = await startServer({ logger });
    const first = await Raw.open(server.url);
    const welcome = await first.hello();
    const second = await Raw.open(server.url);
    second.send({ op: "hello", version: PROTOCOL_VERSION, agent: "raw", resume: { session: welcome.session, secret: welcome.secret } });
    await second.next((message) => message.type === "welcome");
    await first.closed();
    expect(lines.find((line) => line.msg === "session taken over by a new connection")).toMatchObject({ session: welcome.session, from: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  });

  it("logs a commit slower than slowCommitMs, and counts commits and the database's size", async () => {
    const { logger, lines } = capturedLogger();
    const dir = mkdtempSync(join(tmpdir(), "leasehold-slow-commit-"));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    // Every commit is slower than 0 ms.
    const server = await startServer({ dataDir: dir, slowCommitMs: 0, logger });
    const client = await startClient(server.url);
    await client.put("config/x", 1);
    await expect.poll(() => lines.find((line) => line.msg === "slow commit: over 0 ms")).toMatchObject({ ok: true });
    const metrics = await scrape(httpBase(server.url));
    expect(metrics.count("leasehold_storage_commit_duration_seconds", { outcome: "ok" })).toBeGreaterThanOrEqual(1);
    expect(metrics.value("leasehold_storage_database_bytes")).toBeGreaterThan(4_096);
  });

  it("logs an event-loop stall longer than stallMs, with how long nothing ran", async () => {
    const { logger, lines } = capturedLogger();
    await startServer({ logger, stallMs: 200 });
    const stalls = () => lines.filter((line) => line.msg === "event loop stalled: nothing ran for that long");
    // Let the watch tick at least once, then block this process's event loop (the server's) for 600 ms.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const start = performance.now();
    while (performance.now() - start < 600) {
      // Busy: nothing else runs.
    }
    await expect.poll(() => stalls().length, { timeout: 3_000 }).toBeGreaterThan(0);
    expect(stalls().at(-1)?.stalledMs).toBeGreaterThan(200);
    expect(stalls().at(-1)?.level).toBe(40);
  });

  it("logs a slow consumer closed, with its session, address and unsent bytes", async () => {
    const { logger, lines } = capturedLogger();
    const maxBacklogBytes = 256 * 1024;
    // Watches would pause first at 4 MiB of backlog by default; here only the backlog cap stands in the way.
    const server = await startServer({ logger, limits: { maxBacklogBytes }, watch: { pauseBytes: 1024 * 1024 * 1024 } });
    const reader = await Raw.open(server.url);
    const welcome = await reader.hello();
    await reader.request({ op: "watch", prefix: "firehose/" });
    // The reader stops reading from its TCP socket: what is sent to it piles up on the server.
    (reader.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const writer = await startClient(server.url);
    const value = "x".repeat(32 * 1024);
    const slow = () => lines.find((line) => line.msg === "slow consumer closed: too much unsent data");
    for (let batch = 0; batch < 200 && slow() === undefined; batch++) {
      await Promise.all(Array.from({ length: 8 }, (_, i) => writer.put(`firehose/${i}`, value)));
    }
    expect(slow()).toMatchObject({ session: welcome.session, address: expect.stringMatching(/^127\.0\.0\.1:\d+$/), level: 40 });
    expect(slow()?.buffered).toBeGreaterThan(maxBacklogBytes);
  });

  it("logs a watch overflow: the watcher's session and the history kept", async () => {
    const { logger, lines } = capturedLogger();
    // A watcher pauses at 64 KiB unsent; 20 changes later the history it needs is gone.
    const server = await startServer({ logger, watch: { historyEvents: 20, pauseBytes: 64 * 1024 } });
    const watcher = await Raw.open(server.url);
    const welcome = await watcher.hello();
    await watcher.request({ op: "watch", prefix: "big/" });
    (watcher.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const writer = await startClient(server.url);
    const value = "x".repeat(32 * 1024);
    const overflow = () => lines.find((line) => line.msg === "watch overflow: a watcher fell behind the history kept and was closed");
    for (let batch = 0; batch < 100 && overflow() === undefined; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => writer.put(`big/${batch}/${i}`, value)));
    }
    expect(overflow()).toMatchObject({ session: welcome.session, history: 20, level: 40 });
    const metrics = await scrape(httpBase(server.url));
    expect(metrics.value("leasehold_watch_overflows_total")).toBe(1);
  });

  it("the CLI writes JSON lines when stdout is not a terminal, and opens the metrics listener of --metrics-port", async () => {
    const { child } = await startServerProcess(["--memory", "--port", "0", "--metrics-port", "0"]);
    const listening = child.lines.find((line) => typeof line.url === "string")!;
    expect(listening.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await scrape(listening.metricsUrl as string);
    expect(metrics.value("leasehold_sessions", { state: "connected" })).toBe(0);
  });

  it("the CLI writes readable lines, not JSON, with --log-format pretty (what `auto` picks on a terminal)", async () => {
    const cli = startCli(["serve", "--memory", "--host", "127.0.0.1", "--port", "0", "--log-format", "pretty"]);
    await cli.printed("leasehold listening on ws://127.0.0.1:");
    const line = cli.stdout().split("\n").find((text) => text.includes("leasehold listening on"))!;
    // "[12:03:04.567] INFO: leasehold listening on ...": a time, a level name, the message; no JSON.
    expect(line).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: leasehold listening on ws:\/\/127\.0\.0\.1:\d+/);
    expect(cli.stdout()).not.toContain('"level":');
  });
});
