import { drainOutput, spawnChild } from "../infra/children.js";
import { freePort, waitForPort } from "../infra/ports.js";
import { tempDir } from "./tempdir.js";
import type { RunningServer } from "./types.js";

/** Room for the sessions workload's clients plus the harness's own connections. */
const MAX_CLIENTS = 19_000;

/** Starts redis-server on 127.0.0.1, no persistence (as a lock service is usually run), data in a temp dir. */
export async function startRedis(fileLimit: number): Promise<RunningServer> {
  const port = await freePort();
  const dir = tempDir("redis");
  const maxClients = Math.max(1_000, Math.min(MAX_CLIENTS, fileLimit - 64));
  const child = spawnChild({
    name: "redis-server",
    command: "redis-server",
    args: [
      "--bind", "127.0.0.1",
      "--port", String(port),
      "--save", "",
      "--appendonly", "no",
      "--dir", dir.path,
      "--maxclients", String(maxClients),
      "--protected-mode", "no",
      "--loglevel", "warning",
    ],
    fileLimit,
  });
  try {
    // At loglevel warning Redis prints nothing when ready: poll the port instead of reading a line.
    await waitForPort(port, child.exited, 10_000, "redis-server");
  } catch (error) {
    await child.stop();
    dir.remove();
    throw error;
  }
  drainOutput(child);
  return {
    kind: "redis",
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    description: `redis-server --port ${port} --save '' --appendonly no --maxclients ${maxClients}`,
    async stop() {
      await child.stop();
      dir.remove();
    },
  };
}
