import { join, resolve } from "node:path";
import { TcpProxy } from "../../../test/support/tcp-proxy.js";
import { drainOutput, spawnChild, waitForLine, type Child } from "../infra/children.js";

export interface WorkerOptions {
  readonly repoRoot: string;
  readonly urls: readonly string[];
  readonly locks: readonly string[];
  readonly ttlMs: number;
  /** The directory of the run's history: the worker writes `<name>.jsonl` there. */
  readonly historyDir: string;
}

/**
 * A chaos worker process (worker.ts) as the runner sees it: its connections go through proxies of the
 * runner's, one per URL, so that the nemesis can cut them or blackhole them, and the process itself can
 * be paused.
 */
export class ChaosWorker {
  private constructor(
    readonly name: string,
    readonly child: Child,
    readonly proxies: readonly TcpProxy[],
    /** The last lines it printed (stdout and stderr), for the report if it dies. */
    readonly output: string[],
  ) {}

  static async start(name: string, options: WorkerOptions): Promise<ChaosWorker> {
    const proxies = options.urls.map((url) => TcpProxy.forUrl(url));
    const proxied = await Promise.all(proxies.map((proxy) => proxy.start()));
    const child = spawnChild({
      name: `chaos-${name}`,
      command: process.execPath,
      args: [
        "--conditions=source",
        "--import",
        "tsx",
        resolve(options.repoRoot, "bench/src/chaos/worker.ts"),
        "--name",
        name,
        "--urls",
        proxied.join(","),
        "--locks",
        options.locks.join(","),
        "--ttl",
        String(options.ttlMs),
        "--history",
        join(options.historyDir, `${name}.jsonl`),
      ],
      cwd: options.repoRoot,
      stdin: true,
    });
    try {
      await waitForLine(child, (line) => (line.includes('"ready"') ? line : undefined), 60_000);
    } catch (error) {
      await Promise.all(proxies.map((proxy) => proxy.close()));
      throw error;
    }
    return new ChaosWorker(name, child, proxies, drainOutput(child));
  }

  /** Still running (a worker exits only when told to stop). */
  get alive(): boolean {
    return this.child.process.exitCode === null && this.child.process.signalCode === null;
  }

  pause(): void {
    this.child.process.kill("SIGSTOP");
  }

  resume(): void {
    this.child.process.kill("SIGCONT");
  }

  cut(): void {
    for (const proxy of this.proxies) proxy.cut();
  }

  blackhole(): void {
    for (const proxy of this.proxies) proxy.blackhole();
  }

  restore(): void {
    for (const proxy of this.proxies) proxy.restore();
  }

  /** Tells it to stop after its current step and waits for it to exit (killed after `graceMs`). */
  async stop(graceMs = 20_000): Promise<void> {
    this.resume();
    this.restore();
    this.child.process.stdin?.end("stop\n");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.child.exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    await this.child.stop();
    await Promise.all(this.proxies.map((proxy) => proxy.close()));
  }
}
