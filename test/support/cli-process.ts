import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { vi } from "vitest";
import { defer, repoRoot } from "./fixtures.js";

/**
 * For tests that start the CLI several times: one start costs 1.5 s of CPU (tsx compiling the
 * sources), and took 4-5 s of wall time on the shared 2-core machine at a load average of 20.
 */
export const CLI_TEST_TIMEOUT_MS = 120_000;

/** A `leasehold` client command (lock, elect, get, ...) running as its own process, as a shell would start it. */
export interface CliProcess {
  readonly process: ChildProcess;
  /** Everything it (and the command it runs) printed so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Its exit status (128+N if a signal N ended it, as a shell reports it). */
  readonly exited: Promise<number>;
  /** Resolves once stdout contains `text`. */
  printed(text: string, timeoutMs?: number): Promise<void>;
}

/**
 * Starts `leasehold <args>` from the TypeScript sources (the real CLI, as `startServerProcess` starts
 * `serve`), with `env` added to the test's environment; killed after the test if still running.
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fileURLToPath(new URL("../../packages/server/src/cli.ts", import.meta.url)), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal === null ? (code ?? -1) : 128 + constants.signals[signal])),
  );
  defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    printed: (text, timeoutMs = 15_000) =>
      vi.waitFor(
        () => {
          if (!stdout.includes(text)) throw new Error(`leasehold ${args.join(" ")} has not printed ${JSON.stringify(text)}; stdout: ${stdout}; stderr: ${stderr}`);
        },
        { timeout: timeoutMs, interval: 20 },
      ),
  };
}

/** Runs `leasehold <args>` to the end: its exit status and output. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const cli = startCli(args, env);
  const status = await cli.exited;
  return { status, stdout: cli.stdout(), stderr: cli.stderr() };
}

/**
 * A command for the CLI to run: `node -e <script>`, with the script's helpers: `say(text)` prints a
 * line at once (the test reads it from the CLI's stdout).
 */
export function nodeCommand(script: string): string[] {
  return [process.execPath, "-e", `const say = (text) => process.stdout.write(text + "\\n"); ${script}`];
}
