import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { defer, repoRoot } from "../support/fixtures.js";

/**
 * The packages as a user gets them: `pnpm pack` of each publishable package (which rewrites
 * `workspace:*` and applies publishConfig), the tarballs installed together with plain npm into an
 * empty folder (no workspace links; better-sqlite3 compiles there), then `npx leasehold serve` and a
 * script that imports @leasehold/client and takes a lock.
 *
 * Slow by nature: the build, the packs and an npm install that compiles SQLite took 10 to 17 min on
 * this 2-core machine at a load average of 17 to 20 (the install alone 5 to 14 min, 2 min of it CPU). It builds
 * first (`npm run build`, incremental: seconds when CI has just built) so that it never packs a stale
 * dist. The manifests' checks need no install: `-t manifests` runs them in a minute or two.
 */

const PNPM = ["-y", "pnpm@12.4.2"];
/**
 * The build and the packs: 2 min here at a load average of 17 after an incremental build, over 5 min
 * for a full build of the four packages beside a lint run; a minute when CI has just built.
 */
const PACK_BUDGET_MS = 12 * 60_000;
/** The install, server and lock: 5 min here at a load average of 17, 14 min at 20 (SQLite's compile is most of it). */
const INSTALL_BUDGET_MS = 25 * 60_000;

const exec = promisify(execFile);
/** The publishable packages (conformance too once it exists): every packages/* not marked private. */
const PACKAGES = readdirSync(join(repoRoot, "packages")).filter((name) => {
  const manifest = join(repoRoot, "packages", name, "package.json");
  return existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as Manifest).private !== true;
});

interface Manifest {
  name: string;
  private?: boolean;
  exports?: unknown;
  bin?: Record<string, string>;
  engines?: { node?: string };
  license?: string;
  dependencies?: Record<string, string>;
}

let work: string;
const tarballs: string[] = [];
const packed = new Map<string, { manifest: Manifest; files: string[]; tarball: string }>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "leasehold-packaging-"));
  await run("npm", ["run", "build"], repoRoot);
  for (const name of PACKAGES) {
    const before = new Set(readdirSync(work));
    await run("npx", [...PNPM, "pack", "--pack-destination", work], join(repoRoot, "packages", name));
    const tarball = readdirSync(work).find((file) => file.endsWith(".tgz") && !before.has(file));
    if (tarball === undefined) throw new Error(`pnpm pack of packages/${name} wrote no tarball into ${work}`);
    tarballs.push(join(work, tarball));
    const files = (await run("tar", ["-tzf", join(work, tarball)], work)).split("\n").filter(Boolean);
    const manifest = JSON.parse(await run("tar", ["-xOzf", join(work, tarball), "package/package.json"], work)) as Manifest;
    packed.set(name, { manifest, files, tarball: join(work, tarball) });
  }
}, PACK_BUDGET_MS);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe("the packed packages", () => {
  it("are complete manifests: no source condition, no workspace ranges, engines, files, a README, the MIT license, the bin's file", () => {
    expect([...packed.keys()]).toEqual(expect.arrayContaining(["protocol", "client", "server"]));
    for (const [name, { manifest, files }] of packed) {
      // src/ is not packed: a consumer resolving the "source" condition (as vitest configs often do) must not be sent there.
      expect(JSON.stringify(manifest.exports), name).not.toContain('"source"');
      expect(Object.values(manifest.dependencies ?? {}).filter((range) => range.startsWith("workspace:")), name).toEqual([]);
      expect(manifest.engines?.node, name).toBe(">=20");
      expect(files, name).toContain("package/README.md");
      expect(manifest.license, name).toBe("MIT");
      expect(files, name).toContain("package/LICENSE");
      expect(files.filter((file) => file.startsWith("package/src/") || file.includes(".test.")), name).toEqual([]);
      for (const bin of Object.values(manifest.bin ?? {})) expect(files, `${name} bin`).toContain(`package/${bin.replace(/^\.\//, "")}`);
    }
    // The server serves its own browser bundle and page scripts, whatever npm did with the client package.
    expect(packed.get("server")?.files).toEqual(expect.arrayContaining(["package/dist/pages/leasehold.js", "package/dist/pages/dashboard.js"]));
  });

  it("carry the repository's LICENSE text, word for word", async () => {
    const license = readFileSync(join(repoRoot, "LICENSE"), "utf8");
    expect(license).toContain("Copyright (c) 2026 the leasehold authors");
    for (const [name, { tarball }] of packed) expect(await run("tar", ["-xOzf", tarball, "package/LICENSE"], work), name).toBe(license);
  });

  it("installed with npm: `npx leasehold serve` starts a server, a script importing @leasehold/client takes a lock, the pages load", { timeout: INSTALL_BUDGET_MS }, async () => {
    const consumer = join(work, "consumer");
    mkdirSync(consumer);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    // Plain npm, as a user installs. npm hands its configuration (nodedir, for better-sqlite3's native
    // build) to the install scripts. build_from_source: better-sqlite3 would first try to download a
    // prebuilt binary from outside the npm registry, which is not reachable here; compile it at once.
    await run("npm", ["install", "--no-audit", "--no-fund", ...tarballs], consumer, { npm_config_build_from_source: "true" });

    // Its own process group: npx runs the server as its child, and the cleanup must stop both.
    const server = spawn("npx", ["leasehold", "serve", "--memory", "--host", "127.0.0.1", "--port", "0"], { cwd: consumer, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    server.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    defer(() => {
      try {
        if (server.pid !== undefined) process.kill(-server.pid, "SIGKILL");
      } catch {
        // ESRCH: the group has already exited (the server failed to start; the wait below says why).
      }
    });
    const url = await vi.waitFor(
      () => {
        const match = /"url":"(ws:\/\/127\.0\.0\.1:\d+)"/.exec(output);
        if (match?.[1] === undefined) throw new Error(`npx leasehold serve has not said where it listens; output: ${output}`);
        return match[1];
      },
      { timeout: 60_000, interval: 100 },
    );

    writeFileSync(
      join(consumer, "take.mjs"),
      `import { connect } from "@leasehold/client";
const client = await connect(process.argv[2]);
const lease = await client.leases.grant(5_000);
const lock = await client.locks.acquire("packaging/lock", lease.id);
console.log(JSON.stringify({ acquired: lock.acquired, token: String(lock.token) }));
await lock.release();
await client.close();
`,
    );
    // A consumer that resolves the "source" condition gets the built files too (src/ is not installed).
    for (const conditions of [[], ["--conditions=source"]]) {
      const printed = JSON.parse(await run(process.execPath, [...conditions, "take.mjs", url], consumer)) as { acquired: boolean; token: string };
      expect(printed.acquired, conditions.join(" ")).toBe(true);
      expect(Number(printed.token), conditions.join(" ")).toBeGreaterThan(0);
    }

    if (packed.has("conformance")) {
      // The kit's own bin runs from its package (its scenarios run against our server in test/conformance).
      expect(await run("npx", ["leasehold-conformance", "server", "--list"], consumer)).toContain("locks.fifo");
    }

    const http = url.replace("ws://", "http://");
    for (const path of ["/", "/dashboard.js", "/leasehold.js"]) expect((await fetch(`${http}${path}`)).status, path).toBe(200);
    const served = await (await fetch(`${http}/leasehold.js`)).text();
    expect(served).toBe(readFileSync(join(consumer, "node_modules/@leasehold/server/dist/pages/leasehold.js"), "utf8"));
  });
});

/** Runs a command to its end and returns its stdout; a failure says what ran and what it printed. */
async function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await exec(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} (in ${cwd}) failed: ${String(error)}\nstdout: ${failed.stdout ?? ""}\nstderr: ${failed.stderr ?? ""}`, { cause: error });
  }
}
