import { setFlagsFromString } from "node:v8";

/**
 * Keeps V8's young generation at its starting size (semi-spaces of 1 MiB) from now on, unless the
 * process was started with a semi-space size of its own (`--max-semi-space-size` in its flags or
 * NODE_OPTIONS), which is left to rule. The CLI imports this module first, so it applies before the
 * other modules load.
 *
 * Why: V8 doubles the semi-spaces, up to 16 MiB each on Node 20, whenever many young objects survive a
 * scavenge, as when sessions open (their objects live on), and keeps them that large while idle. With
 * the bench's session holders (bench/src/sessions), a fresh server's RSS grew by 25.1-26.4 KiB per
 * session at 1,000 sessions with growth (4 runs) and by 1.0-6.6 KiB without (3 runs, load 11-16):
 * most of what a session seemed to cost at that level was the young generation's growth. Server CPU
 * per operation with 1 MiB semi-spaces (16 clients, uncontended lock pairs and kv.put, 4 alternating
 * pairs at a load of 12) moved within the noise: a scavenge costs what survives it, and a request's
 * objects die young whatever the space's size.
 *
 * V8 reads `--semi-space-growth-factor` each time it considers growing the space (Node 20: a process
 * keeping 20,000 objects ends with a new space of 2 MiB with it, 8 MiB without), so setting it while
 * the process runs works; space the young generation already took before stays taken.
 */
export function keepYoungGenerationSmall(): void {
  if (chosenByOperator()) return;
  setFlagsFromString("--semi-space-growth-factor=1");
}

function chosenByOperator(): boolean {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((flag) => /semi[-_]space/.test(flag));
}

// On import: the CLI imports this module before any other (see above).
keepYoungGenerationSmall();
