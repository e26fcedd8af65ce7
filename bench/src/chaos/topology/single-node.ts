import { resolve } from "node:path";
import { drainOutput, RestartableChild, spawnChild, waitForLine } from "../../infra/children.js";
import { freePort } from "../../infra/ports.js";
import { tempDir } from "../../servers/tempdir.js";
import type { Member, Topology } from "./topology.js";

/**
 * One durable leasehold server (`leasehold serve --data <tmp>`, SQLite with its default `--sync full`),
 * run from the TypeScript sources as the tests run it, so that CI needs no build. It listens on a port
 * fixed for the run: restarted after a kill -9, it is found where its clients (and their proxies) look.
 */
export async function startSingleNode(repoRoot: string): Promise<Topology> {
  const data = tempDir("chaos-data");
  const port = await freePort();
  const server = new ServerMember(repoRoot, ["--host", "127.0.0.1", "--port", String(port), "--data", data.path, "--min-ttl", "100"]);
  try {
    await server.restart();
  } catch (error) {
    data.remove();
    throw error;
  }
  return {
    description: "one leasehold server, durable (SQLite, --sync full)",
    urls: [`ws://127.0.0.1:${port}`],
    members: [server],
    pick: () => server,
    async stop() {
      await server.stop();
      data.remove();
    },
  };
}

class ServerMember extends RestartableChild implements Member {
  readonly name = "server";

  constructor(
    readonly repoRoot: string,
    readonly flags: readonly string[],
  ) {
    super();
  }

  async restart(): Promise<void> {
    const child = spawnChild({
      name: "leasehold-server",
      command: process.execPath,
      args: ["--conditions=source", "--import", "tsx", resolve(this.repoRoot, "packages/server/src/cli.ts"), "serve", ...this.flags],
      cwd: this.repoRoot,
    });
    this.child = child;
    // A start from the sources goes through tsx: from a kill to serving again took 3 to 4 s at a load of 15 on
    // 2 cores, 8 to 30 s at a load of 25 to 32 (less the up to one TTL the nemesis leaves it down).
    await waitForLine(child, (line) => (line.includes('"url"') ? line : undefined), 60_000);
    drainOutput(child);
  }
}
