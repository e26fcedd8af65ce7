/**
 * Loaded into a hostile test's server process (`--import`, see startTarget in support.ts): measures the
 * server's own progress, in CPU time of its main thread, so that a test can tell a server that handled a
 * flood in one go from a machine that did not run it.
 *
 * A timer ticks every TICK_MS; the CPU time the main thread spent between two ticks (from
 * /proc/self/task/PID/schedstat, in ns, which counts only time on a CPU) is the longest stretch of work
 * that kept the event loop from its timers, that is from reading other sockets: a turn that handled a
 * whole read of a flood shows here as tens of ms. Time the process waited for a CPU or was not running
 * at all is not counted: on this shared machine those waits reached 270-480 ms and made a bystander's
 * answers count the machine's load instead of the server's behaviour (counters-flood.test.ts).
 *
 * On SIGUSR2 it prints one JSON line on stdout, `{ turnWatch: <n>, longestCpuMs, stalledWallMs,
 * stalledCpuMs }`, for the period since the previous signal (or since it was loaded), and starts a new one.
 */
import { readFileSync } from "node:fs";

/** Between two ticks at most this much idle time; the CPU of several short turns in a row adds up to about this. */
const TICK_MS = 2;
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** The main thread's CPU time so far, in ms. */
function cpuMs(): number {
  return Number(readFileSync(SCHEDSTAT, "latin1").split(" ", 1)[0]) / 1e6;
}

let period = 0;
let lastCpu = cpuMs();
let lastAt = performance.now();
/** The most CPU between two ticks in this period. */
let longestCpuMs = 0;
/** The longest wall time between two ticks in this period, and the CPU spent in it: the machine's share shows as the difference. */
let stalledWallMs = 0;
let stalledCpuMs = 0;

function tick(): void {
  const cpu = cpuMs();
  const at = performance.now();
  const spent = cpu - lastCpu;
  longestCpuMs = Math.max(longestCpuMs, spent);
  if (at - lastAt > stalledWallMs) {
    stalledWallMs = at - lastAt;
    stalledCpuMs = spent;
  }
  lastCpu = cpu;
  lastAt = at;
}

setInterval(tick, TICK_MS).unref();

process.on("SIGUSR2", () => {
  tick();
  const report = { turnWatch: ++period, longestCpuMs: round(longestCpuMs), stalledWallMs: round(stalledWallMs), stalledCpuMs: round(stalledCpuMs) };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  longestCpuMs = 0;
  stalledWallMs = 0;
  stalledCpuMs = 0;
});

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
