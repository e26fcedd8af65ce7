import { describe, expect, it } from "vitest";
import { startEtcdCluster } from "../support/etcd-cluster.js";

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(500) });
    return ((await response.json()) as { health?: unknown }).health === "true";
  } catch {
    return false;
  }
}

describe("the etcd cluster fixture", () => {
  it("starts 3 members, survives one killed, loses service without quorum, and comes back on restart", async () => {
    const cluster = await startEtcdCluster();
    console.log(`etcd cluster of 3 started in ${cluster.startMs.toFixed(0)} ms`);
    expect(cluster.endpoints).toHaveLength(3);
    for (const url of cluster.endpoints) expect(await healthy(url)).toBe(true);
    const [first, second, third] = cluster.members;
    await first!.kill();
    expect(first!.running).toBe(false);
    await expect.poll(() => healthy(third!.clientUrl)).toBe(true);
    await second!.kill();
    await expect.poll(() => healthy(third!.clientUrl), { timeout: 5_000 }).toBe(false);
    await first!.restart();
    await second!.restart();
    for (const url of cluster.endpoints) await expect.poll(() => healthy(url)).toBe(true);
  });

  it("pauses and resumes a member", async () => {
    const cluster = await startEtcdCluster({ size: 1 });
    const [only] = cluster.members;
    only!.pause();
    expect(await healthy(only!.clientUrl)).toBe(false);
    only!.resume();
    await expect.poll(() => healthy(only!.clientUrl)).toBe(true);
  });
});
