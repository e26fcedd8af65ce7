import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { vi } from "vitest";
import { BUILT_CLI } from "./built-cli.js";
import { defer, repoRoot } from "./fixtures.js";

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
 * Starts `leasehold <args>` as built for users (`packages/server/dist/cli.js`, which the cli tier's
 * global setup, `built-cli.ts`, brings up to date with the sources once per run), with `env` added to
 * the test's environment; killed after the test if still running.
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [BUILT_CLI, ...args], {
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
