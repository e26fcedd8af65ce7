import { resolve } from "node:path";
import { drainOutput, spawnChild, waitForLine } from "../infra/children.js";
import { tempDir } from "./tempdir.js";
import type { RunningServer } from "./types.js";

/**
 * `sync: "process"` runs `--sync process` (no fsync per commit); absent: the default, `--sync full`.
 * `fsyncIn` forces where its fsyncs run (the server's `LEASEHOLD_BENCH_FSYNC_IN`, for A/B series only).
 */
export type Storage = { kind: "memory" } | { kind: "durable"; sync?: "process"; fsyncIn?: "pool" | "inline" };

/**
 * Starts the built leasehold server (`npm run build`) as its own process, so that its CPU and
 * memory are measured apart from the clients'. It prints one JSON log line with `url` when listening.
 *
 * Without `tenantFlags` the benchmark's clients are one trusted tenant (auth off: accounted per
 * address), which the per-principal quotas (1,000 sessions by default) and the new connections per
 * address (200 a second) would cap far below the levels measured, so those limits are lifted. With
 * `tenantFlags` (an auth file, say) the server keeps its default limits: the caller is measuring
 * tenants against each other (the "under attack" row, whose session-parking attacker had ~470
 * connection attempts a second through the lifted rate, each a handshake the server paid for).
 */
export async function startLeasehold(repoRoot: string, storage: Storage, fileLimit: number, tenantFlags?: readonly string[], nodeFlags: readonly string[] = []): Promise<RunningServer> {
  // The sessions workload opens connections as fast as the server takes them, from 16 loopback
  // addresses: far past the default 200 new connections per address per second, a bound for
  // untrusted peers rather than for a capacity measurement.
  const oneTenant = ["--max-sessions-per-principal", "10000000", "--max-leases-per-principal", "100000000", "--max-keys-per-principal", "100000000", "--max-new-connections-per-second", "1000000"];
  const extraFlags = tenantFlags ?? oneTenant;
  if (storage.kind === "durable") {
    const dir = tempDir("leasehold-data");
    try {
      const flags = storage.sync === "process" ? ["--data", dir.path, "--sync", "process"] : ["--data", dir.path];
      const env = storage.fsyncIn === undefined ? undefined : { ...process.env, LEASEHOLD_BENCH_FSYNC_IN: storage.fsyncIn };
      return await spawnServer(repoRoot, [...flags, ...extraFlags], fileLimit, () => dir.remove(), nodeFlags, env);
    } catch (error) {
      dir.remove();
      throw error;
    }
  }
  return spawnServer(repoRoot, ["--memory", ...extraFlags], fileLimit, () => undefined, nodeFlags);
}

/** `nodeFlags` go to node itself, before the script (`--cpu-prof`, say: not allowed in NODE_OPTIONS). */
async function spawnServer(repoRoot: string, storageFlags: string[], fileLimit: number, cleanup: () => void, nodeFlags: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunningServer> {
  // The built server, as users run it: TypeScript compiled by tsc, not transformed on the fly.
  const cli = resolve(repoRoot, "packages/server/dist/cli.js");
  const flags = ["--host", "127.0.0.1", "--port", "0", ...storageFlags, "--min-ttl", "100", "--log-level", "info"];
  const child = spawnChild({
    name: "leasehold-server",
    command: process.execPath,
    args: [...nodeFlags, cli, "serve", ...flags],
    cwd: repoRoot,
    fileLimit,
    env,
  });
  let url: string;
  try {
    url = await waitForLine(child, listeningUrl, 30_000);
  } catch (error) {
    await child.stop();
    throw error;
  }
  drainOutput(child);
  return {
    kind: "leasehold",
    url,
    pid: child.pid,
    description: `leasehold serve ${flags.join(" ").replace(/--data \S+/, "--data <tmp>").replace(/--auth-file \S+/, "--auth-file <tmp>").replace(/ --max-\S+-per-principal \d+/g, "")}`,
    async stop() {
      await child.stop();
      cleanup();
    },
  };
}

function listeningUrl(line: string): string | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const parsed = JSON.parse(line) as { url?: unknown };
    return typeof parsed.url === "string" && parsed.url.startsWith("ws") ? parsed.url : undefined;
  } catch {
    return undefined;
  }
}
