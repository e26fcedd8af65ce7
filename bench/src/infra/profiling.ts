/**
 * `LEASEHOLD_BENCH_CPU_PROF=<dir>`: the Node processes a workload starts (gateways, session holders)
 * write a V8 CPU profile there when they exit, to find where a stalled holder or a busy leader spent
 * its time (`--cpu-prof` is not allowed in NODE_OPTIONS, so it is passed on the command line).
 */
export function profilingFlags(): string[] {
  const dir = process.env.LEASEHOLD_BENCH_CPU_PROF;
  return dir === undefined || dir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`];
}
