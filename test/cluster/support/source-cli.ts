import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { defer, repoRoot } from "../../support/fixtures.js";

/**
 * Runs `leasehold <args>` from the sources (as the gateways of this tier run, through tsx: the
 * cluster tier does not build the CLI) to its end: its exit status and output.
 */
export async function runSourceCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const cli = fileURLToPath(new URL("../../../packages/server/src/cli.ts", import.meta.url));
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", cli, ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
  return { status, stdout, stderr };
}
