/**
 * How many generated cases a property test (fast-check) runs: its base count times
 * `LEASEHOLD_PROPERTY_SCALE` (1 unless set). Two profiles, as Hypothesis's "dev" and "ci" settings:
 * - on a developer's machine the base counts keep the unit tier under 2 s (issue 15), the loop one
 *   waits on while editing;
 * - CI (`.ci/run`) sets the scale to 4: every property runs four times as many cases there, more than
 *   any of them ran before the counts were split.
 * Each run draws a new seed either way, printed with a failure for an exact replay (`seed` and `path`),
 * so the cases add up over runs. `LEASEHOLD_PROPERTY_SCALE=20 npx vitest run <file>` searches longer.
 */
export function propertyRuns(base: number): number {
  return Math.max(1, Math.round(base * PROPERTY_SCALE));
}

const PROPERTY_SCALE = scaleFrom(process.env.LEASEHOLD_PROPERTY_SCALE);

function scaleFrom(text: string | undefined): number {
  if (text === undefined || text === "") return 1;
  const scale = Number(text);
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`LEASEHOLD_PROPERTY_SCALE must be a positive number, not "${text}"`);
  return scale;
}
