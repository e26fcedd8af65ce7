/**
 * A child script of CHILD_SCRIPTS (test/support/built-cli.ts) started with plain node on the built
 * packages, instead of through tsx on the sources (spawnScript): 0.5 s of CPU a start instead of 1.3 s,
 * which the tests that kill or pause a client process pay once each. The tier's global setup must be
 * test/support/built-cli.ts, which builds both the packages and the script.
 */
import { existsSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { CHILD_SCRIPTS, builtScriptPath } from "./built-cli.js";
import { repoRoot, spawnNode, type ChildScript } from "./fixtures.js";

/** `script` is relative to this folder, as spawnScript's is. */
export function spawnBuiltScript(script: string, args: string[]): ChildScript {
  const path = relative(repoRoot, fileURLToPath(new URL(script, import.meta.url)));
  if (!CHILD_SCRIPTS.includes(path)) throw new Error(`${path} is not built for child processes: add it to CHILD_SCRIPTS in test/support/built-cli.ts (if it imports only packages), or start it with spawnScript`);
  const built = builtScriptPath(path);
  if (!existsSync(built)) throw new Error(`${built} is missing: this tier needs test/support/built-cli.ts as its globalSetup (vitest.config.ts)`);
  return spawnNode([built, ...args]);
}
