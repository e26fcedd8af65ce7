import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { defer, repoRoot, spawnScript, type ChildScript } from "./fixtures.js";

/** A port that was free a moment ago, so that a restarted server can listen where its clients look. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** The real CLI (`leasehold serve`) in its own process, so that tests can SIGKILL or SIGTERM it. */
export async function startServerProcess(args: string[], nodeArgs: string[] = []): Promise<{ child: ChildScript; url: string }> {
  const child = spawnScript("../../packages/server/src/cli.ts", ["serve", "--host", "127.0.0.1", "--min-ttl", "100", ...args], nodeArgs);
  // A hang guard, not a speed bound: tsx's start took over 20 s at a load of 30.
  const line = await child.next((entry) => typeof entry.url === "string", 50_000);
  return { child, url: line.url as string };
}

/** Runs the CLI to completion and returns its exit code and what it printed on stderr. */
export async function runServerToExit(args: string[], timeoutMs = 20_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fileURLToPath(new URL("../../packages/server/src/cli.ts", import.meta.url)), "serve", "--host", "127.0.0.1", ...args], {
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
