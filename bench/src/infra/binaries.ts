import { execFileSync, spawnSync } from "node:child_process";

/**
 * The contract: a developer runs `npm run bench` (or `pnpm bench`) and installs nothing by hand. Redis and etcd
 * come from the distribution's packages (`redis-server`, `etcd-server`), installed here when missing.
 */

const REQUIRED = [
  { binary: "redis-server", aptPackage: "redis-server" },
  { binary: "etcd", aptPackage: "etcd-server" },
] as const;

export function ensureBinaries(log: (line: string) => void): void {
  const missing = REQUIRED.filter(({ binary }) => !onPath(binary));
  if (missing.length === 0) return;
  const packages = missing.map(({ aptPackage }) => aptPackage);
  log(`installing ${packages.join(", ")} with apt-get (missing: ${missing.map(({ binary }) => binary).join(", ")})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // A fresh machine has no package lists yet, so the first install fails: update once, then retry.
  const first = spawnSync("apt-get", ["install", "-y", "--no-install-recommends", ...packages], { env, stdio: "inherit" });
  if (first.status !== 0) {
    execFileSync("apt-get", ["update"], { env, stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...packages], { env, stdio: "inherit" });
  }
  const stillMissing = REQUIRED.filter(({ binary }) => !onPath(binary));
  if (stillMissing.length > 0) throw new Error(`still missing after apt-get: ${stillMissing.map(({ binary }) => binary).join(", ")}`);
}

function onPath(binary: string): boolean {
  return spawnSync("/bin/sh", ["-c", `command -v ${binary}`], { stdio: "ignore" }).status === 0;
}
