import { describe, expect, it } from "vitest";
import { runCli, startCli } from "../support/cli-process.js";
import { startClient, startServer } from "../support/fixtures.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";

describe("leasehold get/put/del/ls/watch", () => {
  it("writes and reads values as JSON, lists and deletes by prefix, and watches the changes", async () => {
    const server = await startServer();
    const client = await startClient(server.url);
    const url = ["--url", server.url];
    // The watches start from a revision before the first change, so none is missed however slowly they start.
    const from = String((await client.put("before", 0)).revision + 1);
    const watch = startCli(["watch", "app/", "--prefix", "--json", "--from-revision", from, ...url]);
    const single = startCli(["watch", "app/a", "--from-revision", from, ...url]);

    const put = await runCli(["put", "app/a", '{"n":1,"tags":["x"]}', ...url]);
    expect(put.status).toBe(0);
    const revision = Number(put.stdout.trim());
    expect(await client.get("app/a")).toEqual({ value: { n: 1, tags: ["x"] }, revision });
    await client.put("app/b", "two");

    const [get, getJson, missing, prefix, ls, notJson, casFailed] = await Promise.all([
      runCli(["get", "app/a", ...url]),
      runCli(["get", "app/a", "--json", ...url]),
      runCli(["get", "app/none", ...url]),
      runCli(["get", "app/", "--prefix", ...url]),
      runCli(["ls", "app/", ...url]),
      runCli(["put", "app/c", "bare words", ...url]),
      runCli(["put", "app/a", "2", "--if-revision", "1", ...url]),
    ]);
    expect(get).toMatchObject({ status: 0, stdout: '{"n":1,"tags":["x"]}\n' });
    expect(JSON.parse(getJson.stdout)).toEqual({ key: "app/a", value: { n: 1, tags: ["x"] }, revision });
    expect(missing).toMatchObject({ status: 1, stdout: "" });
    expect(prefix.stdout).toBe('app/a\t{"n":1,"tags":["x"]}\napp/b\t"two"\n');
    expect(ls.stdout).toBe("app/a\napp/b\n");
    expect(notJson.status).toBe(64);
    expect(notJson.stderr).toContain("must be JSON");
    expect(casFailed.status).toBe(1);

    const del = await runCli(["del", "app/", "--prefix", ...url]);
    expect(del).toMatchObject({ status: 0, stdout: "2\n" });
    expect(await client.list("app/")).toEqual([]);

    await watch.printed('"type":"delete","key":"app/b"');
    const events = watch.stdout().trim().split("\n").map((line) => JSON.parse(line) as { type: string; key: string });
    expect(events.map((event) => `${event.type} ${event.key}`)).toEqual(["put app/a", "put app/b", "delete app/a", "delete app/b"]);
    // Without --prefix, only the key itself.
    await single.printed("delete app/a");
    expect(single.stdout()).not.toContain("app/b");
    expect(single.stdout()).toContain(`put app/a {"n":1,"tags":["x"]} (revision ${revision})`);
    watch.process.kill("SIGTERM");
    expect(await watch.exited).toBe(143);
  });
});

describe("leasehold counter, status, release", () => {
  it("reads, increments and sets a counter", async () => {
    const server = await startServer();
    const url = ["--url", server.url];
    expect((await runCli(["counter", "hits", "incr", ...url])).stdout).toBe("1\n");
    expect((await runCli(["counter", "hits", "incr", "-5", ...url])).stdout).toBe("-4\n");
    const [set, usage] = await Promise.all([runCli(["counter", "hits", "set", "40", "--json", ...url]), runCli(["counter", "hits", "double", ...url])]);
    expect(JSON.parse(set.stdout)).toEqual({ name: "hits", value: 40 });
    expect(usage.status).toBe(64);
    expect((await runCli(["counter", "hits", ...url])).stdout).toBe("40\n");
  });

  it("status shows locks with holders and queue depth; release takes a lock away (admin only)", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS } });
    const holder = await startClient(server.url, { auth: TOKENS.tenantA, agent: "nightly-worker" });
    const waiter = await startClient(server.url, { auth: TOKENS.tenantA, agent: "second-worker" });
    const lease = await holder.leases.grant(10_000);
    const lock = await holder.locks.acquire("tenant-a/report", lease.id);
    const waiterLease = await waiter.leases.grant(10_000);
    const queued = waiter.locks.acquire("tenant-a/report", waiterLease.id, { wait: true });
    await expect.poll(async () => (await holder.locks.query("tenant-a/report")).pending.length).toBe(1);
    const admin = { LEASEHOLD_URL: server.url, LEASEHOLD_TOKEN: TOKENS.admin };

    const [status, json, forbidden] = await Promise.all([
      runCli(["status"], admin),
      runCli(["status", "--json"], admin),
      runCli(["release", "tenant-a/report"], { LEASEHOLD_URL: server.url, LEASEHOLD_TOKEN: TOKENS.tenantA }),
    ]);
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`tenant-a/report\\s+lock\\s+1\\s+1\\s+\\d+\\.\\ds\\s+nightly-worker #${lock.token}`));
    expect(status.stdout).toContain("second-worker");
    const state = JSON.parse(json.stdout) as { locks: { name: string; held: number; waiting: number }[] };
    expect(state.locks).toEqual([expect.objectContaining({ name: "tenant-a/report", held: 1, waiting: 1 })]);
    expect(forbidden.status).toBe(77);
    expect(lock.held).toBe(true);

    const released = await runCli(["release", "tenant-a/report"], admin);
    expect(released).toMatchObject({ status: 0, stdout: 'released "tenant-a/report"\n' });
    await expect.poll(() => lock.held).toBe(false);
    expect((await queued).acquired).toBe(true);
  });
});
