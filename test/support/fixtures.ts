import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { onTestFinished } from "vitest";
import { connect, type ConnectOptions, type LeaseholdClient } from "@leasehold/client";
import { createServer, type LeaseholdServer, type ServerOptions } from "@leasehold/server";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Runs `fn` after the current test, whatever its outcome: the one cleanup helper of the tests. Later
 * cleanups run first (a client before the server it talks to); every one runs even if one fails (a
 * check, say), and a failure fails the test. Call it from a test or a helper a test calls, not from
 * beforeAll (vitest then says "onTestFinished() can only be called inside a test").
 */
export function defer(fn: () => unknown): void {
  onTestFinished(async () => {
    await fn();
  });
}

/** An empty data directory, removed after the test. */
export function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-data-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A server on a free port of 127.0.0.1, closed after the test. Short TTLs are allowed. */
export async function startServer(options: ServerOptions = {}): Promise<LeaseholdServer> {
  const server = await createServer({ host: "127.0.0.1", port: 0, ...options, limits: { minTtlMs: 100, ...options.limits } });
  defer(() => server.close());
  return server;
}

/**
 * Stops an in-process server as a crash would (`stepDown`: nothing pending is committed or answered,
 * every connection drops) and starts another on the same data directory and port, where its clients
 * come back on their own. What an acknowledged change left on disk is the same as after a SIGKILL (the
 * operating system keeps the writes of a killed process), without a process start: 0.6 s of CPU, 2 to
 * 5 s of wall time on this loaded machine. SIGKILL itself is tested by test/durability-sigkill.test.ts.
 */
export async function crashAndRestart(server: LeaseholdServer, dir: string, options: ServerOptions = {}): Promise<LeaseholdServer> {
  server.stepDown("the test crashes this server");
  await server.close();
  return startServer({ ...options, dataDir: dir, port: Number(new URL(server.url).port) });
}

/** A client closed after the test. */
export async function startClient(url: string | readonly string[], options: ConnectOptions = {}): Promise<LeaseholdClient> {
  const client = await connect(url, options);
  defer(() => client.close());
  return client;
}

/** A Node process running a TypeScript script against the sources; its stdout JSON lines arrive as events. */
export interface ChildScript {
  readonly process: ChildProcess;
  /** Resolves with the first stdout JSON line that satisfies `match`. */
  next(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly lines: Record<string, unknown>[];
}

/** `nodeArgs` go to Node itself before the script (`--max-old-space-size=96`, say). */
export function spawnScript(script: string, args: string[], nodeArgs: string[] = []): ChildScript {
  return spawnNode([...nodeArgs, "--conditions=source", "--import", "tsx", fileURLToPath(new URL(script, import.meta.url)), ...args]);
}

/**
 * Node with these arguments as a child (see spawnScript), e.g. a built script without tsx. Killed after
 * the test, unless `manualStop` (a child shared by a file's tests, started in `beforeAll`: the caller
 * kills it from `afterAll`). `env` adds to this process's environment.
 */
export function spawnNode(argv: string[], { manualStop = false, env = {} }: { manualStop?: boolean; env?: NodeJS.ProcessEnv } = {}): ChildScript {
  const child = spawn(process.execPath, argv, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (!manualStop) defer(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGCONT");
      child.kill("SIGKILL");
    }
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    line.receivedAt = performance.now();
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  return {
    process: child,
    lines,
    next(match, timeoutMs = 15_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child ${argv.filter((arg) => !arg.startsWith("-")).slice(0, 2).join(" ")} printed no matching line within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
  };
}
