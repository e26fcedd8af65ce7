import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { LeaseholdClient } from "@leasehold/client";
import { dataDir, startClient, startServer } from "../support/fixtures.js";
import { issueMore, nextIssued } from "../support/issued.js";
import { startEtcdCluster, type EtcdCluster } from "../support/etcd-cluster.js";
import { leaderOf, startGateways, type GatewayProcess } from "./support/gateways.js";
import { runCli } from "../support/cli-process.js";

/** One gateway over `cluster` (with `args`), once it leads, and a client on it. */
async function serveCluster(cluster: EtcdCluster, args: string[] = []): Promise<{ gateway: GatewayProcess; client: LeaseholdClient }> {
  const gateways = await startGateways(cluster, { count: 1, args });
  const gateway = await leaderOf(gateways, 20_000);
  return { gateway, client: await startClient(gateway.url) };
}

async function stop(gateway: GatewayProcess): Promise<void> {
  gateway.child.process.kill("SIGTERM");
  if (gateway.child.process.exitCode === null) await new Promise((resolve) => gateway.child.process.once("exit", resolve));
}

describe("backup, restore and import with a cluster on etcd", () => {
  it("imports a live single-node data directory into etcd; the cluster serves its locks, keys and counters and hands out tokens above every one the single node did", async () => {
    const cluster = await startEtcdCluster({ size: 1 });
    const dir = join(dataDir(), "data");
    const single = await startServer({ dataDir: dir });
    const client = await startClient(single.url);
    const lease = await client.leases.grant(60_000);
    const held = await client.locks.acquire("report", lease.id);
    await client.put("config", { mode: "fast" });
    await client.counters.increment("visits", 3);

    const imported = await runCli(["import", "--from-data-dir", dir, "--etcd", cluster.endpoints.join(",")]);
    expect(imported.stderr).toBe("");
    expect(imported.status).toBe(0);
    expect(imported.stdout).toMatch(/restored .* into etcd .* \/leasehold\/: 1 session, 1 lease, 1 held/);
    // Handed out by the single node after the import read its data.
    const issuedAfter = await issueMore(client, "later");

    const again = await runCli(["import", "--from-data-dir", dir, "--etcd", cluster.endpoints.join(",")]);
    expect(again.status).toBe(73);
    expect(again.stderr).toMatch(/already holds data .*pass --force/);

    const { client: checker } = await serveCluster(cluster);
    const state = await checker.admin.state();
    expect(state.locks.find((lock) => lock.name === "report")?.holders.map((hold) => hold.token)).toEqual([held.token]);
    expect(await checker.get("config")).toMatchObject({ value: { mode: "fast" } });
    expect(await checker.counters.get("visits")).toBe(3);
    expect((await nextIssued(checker)).token).toBeGreaterThan(issuedAfter);
  });

  it("backs up a prefix while its gateway runs, and refuses to restore over it while a gateway leads; restored into a new prefix or a data directory, the backup hands out tokens above every one before", async () => {
    const { cluster, etcd, client, file, issuedAfter } = await backedUpCluster();

    const busy = await runCli(["restore", file, ...etcd]);
    expect(busy.status).toBe(73);
    expect(busy.stderr).toMatch(/a gateway leads the cluster under \/leasehold\/ \(ws:.*\): stop every gateway/);
    expect(await client.get("after/key")).toMatchObject({ value: 1 });

    // Into a new prefix: nothing there says how far tokens went, only the time of the restore does.
    const fresh = await runCli(["restore", file, ...etcd, "--etcd-prefix", "/restored/"]);
    expect(fresh.stderr).toBe("");
    expect(fresh.status).toBe(0);
    const served = await serveCluster(cluster, ["--etcd-prefix", "/restored/"]);
    expect(await served.client.get("before/key")).toMatchObject({ value: 1 });
    expect(await served.client.get("after/key")).toBeNull();
    expect((await nextIssued(served.client)).token).toBeGreaterThan(issuedAfter);

    // Back from a cluster to a single node: the same file restores into a data directory.
    const single = join(dataDir(), "data");
    expect((await runCli(["restore", file, "--data-dir", single])).status).toBe(0);
    const server = await startServer({ dataDir: single });
    const singleClient = await startClient(server.url);
    expect(await singleClient.get("before/key")).toMatchObject({ value: 1 });
    expect((await nextIssued(singleClient)).token).toBeGreaterThan(issuedAfter);
  });

  it("restores an older backup over the cluster's own prefix once its gateways stop, with --force only; tokens go on above every one before", async () => {
    const { cluster, etcd, client, gateway, file, issuedAfter } = await backedUpCluster();
    await client.close();
    await stop(gateway);
    const refused = await runCli(["restore", file, ...etcd]);
    expect(refused.status).toBe(73);
    expect(refused.stderr).toMatch(/already holds data .*pass --force/);
    const forced = await runCli(["restore", file, ...etcd, "--force"]);
    expect(forced.stderr).toBe("");
    expect(forced.status).toBe(0);

    const served = await serveCluster(cluster);
    expect(await served.client.get("before/key")).toMatchObject({ value: 1 });
    expect(await served.client.get("after/key")).toBeNull();
    expect((await nextIssued(served.client)).token).toBeGreaterThan(issuedAfter);
  });
});

/**
 * A one-member etcd with one gateway, a lock and key written (`before`), a backup of it taken with
 * the CLI while the gateway runs, then another lock and key (`after`) that the backup does not hold.
 */
async function backedUpCluster(): Promise<{ cluster: EtcdCluster; etcd: string[]; gateway: GatewayProcess; client: LeaseholdClient; file: string; issuedAfter: number }> {
  const cluster = await startEtcdCluster({ size: 1 });
  const etcd = ["--etcd", cluster.endpoints.join(",")];
  const { gateway, client } = await serveCluster(cluster);
  await issueMore(client, "before");
  const file = join(dataDir(), "cluster.backup");
  const backup = await runCli(["backup", ...etcd, "--out", file]);
  expect(backup.stderr).toBe("");
  expect(backup.status).toBe(0);
  expect(backup.stdout).toMatch(/backed up etcd .* \/leasehold\/ to .*: 1 session, 1 lease, 1 held, 0 waiting, 1 key/);
  return { cluster, etcd, gateway, client, file, issuedAfter: await issueMore(client, "after") };
}
