import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Every temp dir not yet removed, so that an interrupted run still cleans up after its servers. */
const live = new Set<string>();

/** A fresh directory under the system temp dir, removed by `remove()` (and never reused). */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `leasehold-bench-${prefix}-`));
  live.add(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      live.delete(path);
    },
  };
}

/** Removes every temp dir still there; call once the processes using them are stopped. */
export function removeAllTempDirs(): void {
  for (const path of live) rmSync(path, { recursive: true, force: true });
  live.clear();
}
