import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { BUILT_CLI } from "./built-cli.js";
import { defer, repoRoot, spawnNode, type ChildScript } from "./fixtures.js";

/** A port that was free a moment ago, so that a restarted server can listen where its clients look. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/**
 * The real CLI (`leasehold serve`) in its own process, so that tests can SIGKILL or SIGTERM it: the
 * build in dist/ (the tier's global setup, test/support/built-cli.ts, brings it up to date), because a
 * start through tsx took longer than an 8 s lease at a load of 30 and a restart test then failed.
 */
export async function startServerProcess(args: string[], nodeArgs: string[] = []): Promise<{ child: ChildScript; url: string }> {
  const child = spawnNode([...nodeArgs, BUILT_CLI, "serve", "--host", "127.0.0.1", "--min-ttl", "100", ...args]);
  // A hang guard, not a speed bound.
  const line = await child.next((entry) => typeof entry.url === "string", 50_000);
  return { child, url: line.url as string };
}

/** The exit code of a server process once it has exited (null after a signal). */
export async function exited(child: ChildScript): Promise<number | null> {
  const process = child.process;
  if (process.exitCode !== null || process.signalCode !== null) return process.exitCode;
  return new Promise((resolve) => process.once("exit", (code) => resolve(code)));
}

/** Runs the CLI to completion and returns its exit code and what it printed on stderr. */
export async function runServerToExit(args: string[], timeoutMs = 20_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [BUILT_CLI, "serve", "--host", "127.0.0.1", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  defer(() => child.kill("SIGKILL"));
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not exit within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    child.on("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  return { code, stderr, stdout };
}
