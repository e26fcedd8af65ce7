import { describe, expect, it, vi } from "vitest";
import { createServer } from "@leasehold/server";
import { startClient, startServer, defer } from "../support/fixtures.js";
import { httpBase, scrape } from "../support/prometheus.js";
import { inspectIn, lockIn } from "../support/inspect.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";

/** Every metric of README's Metrics table: a scrape must carry each (help and type), before anything happened. */
const LEASEHOLD_METRICS = [
  "leasehold_sessions",
  "leasehold_leases",
  "leasehold_lease_ends_total",
  "leasehold_locks_held",
  "leasehold_lock_waiters",
  "leasehold_lock_acquires_total",
  "leasehold_lock_wait_seconds",
  "leasehold_lock_losses_total",
  "leasehold_locks_in_delay",
  "leasehold_lock_delays_started_total",
  "leasehold_requests_total",
  "leasehold_request_duration_seconds",
  "leasehold_watchers",
  "leasehold_watch_overflows_total",
  "leasehold_revision",
  "leasehold_storage_commit_duration_seconds",
  "leasehold_connections",
  "leasehold_connection_refusals_total",
];

describe("GET /metrics", () => {
  it("carries every leasehold metric and Node's process metrics, in a text a Prometheus parser reads", async () => {
    const server = await startServer();
    const metrics = await scrape(httpBase(server.url));
    for (const name of LEASEHOLD_METRICS) expect(metrics.family(name).help.length, name).toBeGreaterThan(10);
    expect(metrics.family("leasehold_lock_wait_seconds").type).toBe("HISTOGRAM");
    expect(metrics.family("leasehold_requests_total").type).toBe("COUNTER");
    expect(metrics.value("nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(metrics.value("process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("moves as locks are taken, waited for and released, and sessions come and go", async () => {
    const server = await startServer();
    const base = httpBase(server.url);
    const a = await startClient(server.url);
    const b = await startClient(server.url);
    const leaseA = await a.leases.grant(5_000);
    const leaseB = await b.leases.grant(5_000);
    const held = await a.locks.acquire("orders/42", leaseA.id);
    const waiting = b.locks.acquire("orders/42", leaseB.id, { wait: true });
    await vi.waitFor(() => expect(lockIn(inspectIn(server), "orders/42")?.waiters).toHaveLength(1));

    const during = await scrape(base);
    expect(during.value("leasehold_sessions", { state: "connected" })).toBe(2);
    expect(during.value("leasehold_leases")).toBe(2);
    expect(during.value("leasehold_locks_held", { kind: "lock" })).toBe(1);
    expect(during.value("leasehold_lock_waiters", { kind: "lock" })).toBe(1);
    expect(during.value("leasehold_lock_acquires_total", { kind: "lock", outcome: "granted" })).toBe(1);
    expect(during.value("leasehold_lock_acquires_total", { kind: "lock", outcome: "queued" })).toBe(1);
    expect(during.value("leasehold_requests_total", { op: "lock.acquire", code: "OK" })).toBe(2);
    expect(during.count("leasehold_request_duration_seconds", { op: "lease.grant" })).toBe(2);
    expect(during.value("leasehold_connections")).toBeGreaterThanOrEqual(2);
    expect(during.value("leasehold_revision")).toBe(server.coordinator.revision);

    await held.release();
    await (await waiting).release();
    await a.leases.revoke(leaseA.id);
    const after = await scrape(base);
    expect(after.value("leasehold_locks_held", { kind: "lock" })).toBe(0);
    expect(after.value("leasehold_lock_waiters", { kind: "lock" })).toBe(0);
    expect(after.count("leasehold_lock_wait_seconds", { kind: "lock", outcome: "granted" })).toBe(1);
    expect(after.value("leasehold_lease_ends_total", { reason: "released" })).toBe(1);
    expect(after.value("leasehold_leases")).toBe(1);
    // No label carries a lock's name.
    expect(after.text).not.toContain("orders/42");
  });

  it("counts a lock lost when an admin releases it, and a try refused as busy", async () => {
    const server = await startServer();
    const a = await startClient(server.url);
    const b = await startClient(server.url);
    const lease = await a.leases.grant(5_000);
    await a.locks.acquire("jobs/1", lease.id);
    expect((await b.locks.acquire("jobs/1", (await b.leases.grant(5_000)).id)).acquired).toBe(false);
    expect(await b.admin.forceRelease("jobs/1")).toBe(true);
    const metrics = await scrape(httpBase(server.url));
    expect(metrics.value("leasehold_lock_losses_total", { kind: "lock", reason: "revoked" })).toBe(1);
    expect(metrics.value("leasehold_lock_acquires_total", { kind: "lock", outcome: "busy" })).toBe(1);
  });

  it("shows a lock in its lock-delay (a gauge, by kind) and counts the delays started, not those of clean releases", async () => {
    const server = await startServer();
    const base = httpBase(server.url);
    const a = await startClient(server.url);
    const lease = await a.leases.grant(10_000);
    // A clean release starts no delay, whatever the hold's lockDelayMs.
    await (await a.locks.acquire("printers/1", lease.id, { lockDelayMs: 60_000 })).release();
    const before = await scrape(base);
    expect(before.value("leasehold_locks_in_delay", { kind: "lock" })).toBe(0);
    expect(before.value("leasehold_lock_delays_started_total", { kind: "lock" })).toBe(0);

    // Long enough to outlast the scrape on a loaded machine; the end of a delay is tested on fake time.
    await a.locks.acquire("printers/1", lease.id, { lockDelayMs: 60_000 });
    await a.locks.acquire("printers/2", lease.id, { lockDelayMs: 60_000 });
    expect(await a.admin.forceRelease("printers/1")).toBe(true);
    const during = await scrape(base);
    expect(during.value("leasehold_locks_in_delay", { kind: "lock" })).toBe(1);
    expect(during.value("leasehold_locks_in_delay", { kind: "semaphore" })).toBe(0);
    expect(during.value("leasehold_lock_delays_started_total", { kind: "lock" })).toBe(1);
    expect(during.value("leasehold_locks_held", { kind: "lock" })).toBe(1);
    expect(during.text).not.toContain("printers/");
  });

  it("needs an admin token on the main port when authentication is on, and none on the metrics listener", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS }, metricsPort: 0 });
    const base = httpBase(server.url);
    const anonymous = await fetch(`${base}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await anonymous.text()).toContain("Authorization: Bearer");
    expect((await fetch(`${base}/metrics`, { headers: { authorization: "Bearer not-a-token" } })).status).toBe(401);
    const tenant = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKENS.tenantA}` } });
    expect(tenant.status).toBe(403);
    expect(await tenant.text()).toContain("admin right");
    expect((await scrape(base, TOKENS.admin)).value("leasehold_sessions", { state: "connected" })).toBe(0);
    // The probes stay open: an orchestrator has no token.
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const unauthenticated = await scrape(server.metricsUrl!);
    expect(unauthenticated.family("leasehold_requests_total").type).toBe("COUNTER");
    expect((await fetch(`${server.metricsUrl}/livez`)).status).toBe(200);
    expect((await fetch(`${server.metricsUrl}/`)).status).toBe(404);
  });

  it("counts refused connections by reason", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
    await expect(startClient(server.url, { auth: "wrong-token" })).rejects.toThrow();
    await vi.waitFor(async () => expect((await scrape(httpBase(server.url), TOKENS.admin)).value("leasehold_connection_refusals_total", { reason: "auth" })).toBe(1));
  });
});

describe("probes", () => {
  it("/livez and /readyz answer, /healthz is /readyz; /readyz turns not-ready when storage fails", async () => {
    let broken = false;
    const storage = {
      durable: true,
      load: () => ({ revision: 0, nextLeaseId: 1, sessions: [], leases: [], holds: [], waits: [], keys: [], counters: [] }),
      write() {
        if (broken) throw new Error("disk gone (test)");
      },
      close() {},
    };
    const server = await createServer({ host: "127.0.0.1", port: 0, storage });
    defer(() => server.close());
    const base = httpBase(server.url);
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const client = await startClient(server.url);
    broken = true;
    void client.leases.grant(5_000).catch(() => {});
    await server.failed;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("disk gone (test)");
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    // Still alive: restarting it is the orchestrator's call, not a crash.
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    const metrics = await scrape(base);
    expect(metrics.count("leasehold_storage_commit_duration_seconds", { outcome: "failed" })).toBe(1);
  });

  it("/readyz is not ready while a commit has not finished for longer than the bound, with the reason, and ready again once it completes", async () => {
    let hold = false;
    const held: (() => void)[] = [];
    // An asynchronous store (as etcd is) whose writes the test holds: a stalled disk or backend.
    const storage = {
      durable: true,
      load: () => ({ revision: 0, nextLeaseId: 1, sessions: [], leases: [], holds: [], waits: [], keys: [], counters: [] }),
      write: () => (hold ? new Promise<void>((resolve) => void held.push(resolve)) : Promise.resolve()),
      close() {},
    };
    const server = await createServer({ host: "127.0.0.1", port: 0, storage });
    defer(() => server.close());
    const base = httpBase(server.url);
    const client = await startClient(server.url);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    hold = true;
    const granted = client.leases.grant(60_000);
    await vi.waitFor(() => expect(held).toHaveLength(1));
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // Past STUCK_COMMIT_MS (5 s) the write in flight counts as stuck.
    const stuck = await vi.waitFor(
      async () => {
        const answer = await fetch(`${base}/readyz`);
        expect(answer.status).toBe(503);
        return answer.text();
      },
      { timeout: 15_000, interval: 250 },
    );
    expect(stuck).toMatch(/^not ready: a commit has waited \d+ ms to be written/);
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    hold = false;
    held.shift()?.();
    await granted;
    await vi.waitFor(async () => expect((await fetch(`${base}/readyz`)).status).toBe(200));
  });

  it("/readyz is not ready while the cluster knows no leader", async () => {
    let leader = false;
    const server = await startServer({ leaderKnown: () => leader });
    const base = httpBase(server.url);
    const answer = await fetch(`${base}/readyz`);
    expect(answer.status).toBe(503);
    expect(await answer.text()).toContain("no cluster leader");
    leader = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });
});
