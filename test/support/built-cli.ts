/**
 * The global setup of the tiers that start child processes: builds the CLI once per run (`tsc -b` of
 * the protocol, client and server packages into their dist/) when a source is newer than the build, so
 * that each test starts `node dist/cli.js` instead of loading the sources through tsx. Measured on this
 * 2-core machine: a start through tsx costs 1.9 s of CPU (7 s of wall time at a load of 9), from dist
 * 0.6 s; the build costs 11 s of CPU when something changed and nothing when nothing did (an mtime
 * check, where `tsc -b`'s own up-to-date check costs 1 s of CPU). It also turns the child scripts that
 * use only the packages (CHILD_SCRIPTS) into JavaScript on the same build, for the same reason.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as TypeScript from "typescript";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PACKAGES = ["protocol", "client", "server"];
/** What the cli tier's tests run: the CLI as built for users (`bin` in the server's package.json). */
export const BUILT_CLI = join(REPO_ROOT, "packages/server/dist/cli.js");
// Written after a build this setup ran or found current (tsc -b leaves unchanged outputs untouched,
// so their times do not say when the build last caught up with the sources).
const STAMP = join(REPO_ROOT, "packages/server/dist/.built-for-tests");

/**
 * Scripts that tests run as child processes and that import nothing but the packages (`@leasehold/*`,
 * which resolve to dist/ outside vitest): each is stripped of its types into BUILT_SCRIPTS and started
 * with plain node (test/support/built-script.ts). A lock holder started so printed its first line after
 * 0.45 to 0.6 s of CPU against 1.3 s through tsx (1 to 3 s of wall time against 4 to 11 s at a load of
 * 14 to 18); the killed-leader election test took 3.2 s instead of 10.8 s. The hostile tests' turn watch
 * is loaded into their servers with `--import` (test/hostile/turn-watch.ts).
 */
export const CHILD_SCRIPTS = ["test/support/holder.ts", "test/shared-state/fixtures/campaigner.ts", "test/hostile/turn-watch.ts"];
/** Where the JavaScript of CHILD_SCRIPTS goes, under the same relative paths. */
export const BUILT_SCRIPTS = join(REPO_ROOT, "node_modules/.cache/leasehold-child-scripts");

export default function setup(): void {
  buildChildScripts();
  if (!buildIsStale()) return;
  const tsc = join(REPO_ROOT, "node_modules/typescript/bin/tsc");
  try {
    execFileSync(process.execPath, [tsc, "-b", ...PACKAGES.map((name) => `packages/${name}`)], { cwd: REPO_ROOT, stdio: "pipe" });
  } catch (error) {
    const output = (error as { stdout?: Buffer }).stdout?.toString() ?? String(error);
    throw new Error(`the cli tier runs the built CLI, and building it failed (fix the errors below; \`npx tsc -b packages/protocol packages/client packages/server\` shows them too):\n${output}`);
  }
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

/** The JavaScript of a script of CHILD_SCRIPTS (a path relative to the repository). */
export function builtScriptPath(script: string): string {
  return join(BUILT_SCRIPTS, script.replace(/\.ts$/, ".mjs"));
}

/** Strips the types of each of CHILD_SCRIPTS newer than its JavaScript (TypeScript only loaded then). */
function buildChildScripts(): void {
  const stale = CHILD_SCRIPTS.filter((script) => {
    const out = builtScriptPath(script);
    return !existsSync(out) || statSync(out).mtimeMs < statSync(join(REPO_ROOT, script)).mtimeMs;
  });
  if (stale.length === 0) return;
  const ts = createRequire(import.meta.url)("typescript") as typeof TypeScript;
  for (const script of stale) {
    const { outputText } = ts.transpileModule(readFileSync(join(REPO_ROOT, script), "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: script,
    });
    const out = builtScriptPath(script);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
}

/** Whether the build is missing or older than a source file it is built from. */
function buildIsStale(): boolean {
  if (!existsSync(STAMP) || !existsSync(BUILT_CLI)) return true;
  const builtAt = statSync(STAMP).mtimeMs;
  return PACKAGES.some((name) => newestSource(join(REPO_ROOT, "packages", name, "src")) > builtAt);
}

/** The newest modification time among the TypeScript sources under `dir` (tests and pages excluded). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "pages") newest = Math.max(newest, newestSource(path));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}
