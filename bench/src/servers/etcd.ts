import { drainOutput, spawnChild } from "../infra/children.js";
import { freePort } from "../infra/ports.js";
import { tempDir } from "./tempdir.js";
import type { RunningServer } from "./types.js";

/** Starts a single-member etcd on 127.0.0.1 with its data (WAL, fsync'd as in production) in a temp dir. */
export async function startEtcd(fileLimit: number): Promise<RunningServer> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dir = tempDir("etcd");
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = spawnChild({
    name: "etcd",
    command: "etcd",
    args: [
      "--name", "default",
      "--data-dir", dir.path,
      "--listen-client-urls", clientUrl,
      "--advertise-client-urls", clientUrl,
      "--listen-peer-urls", peerUrl,
      "--initial-advertise-peer-urls", peerUrl,
      "--initial-cluster", `default=${peerUrl}`,
      "--logger", "zap",
      "--log-level", "warn",
    ],
    fileLimit,
  });
  const tail = drainOutput(child);
  try {
    await waitForHealth(clientUrl, child.exited, 20_000);
  } catch (error) {
    await child.stop();
    dir.remove();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${tail.join("\n")}`);
  }
  return {
    kind: "etcd",
    url: clientUrl,
    pid: child.pid,
    description: `etcd --data-dir <tmp> --listen-client-urls ${clientUrl}`,
    async stop() {
      await child.stop();
      dir.remove();
    },
  };
}

/**
 * etcd opens its client port before its single member has elected itself, so an open port is not
 * enough: /health answers {"health":"true"} only once the member can serve requests.
 */
async function waitForHealth(clientUrl: string, exited: Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error("etcd exited before it was healthy");
    try {
      const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
      const body = (await response.json()) as { health?: unknown };
      if (body.health === "true" || body.health === true) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`etcd was not healthy within ${timeoutMs} ms`);
}
