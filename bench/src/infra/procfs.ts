import { readFileSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";

/** Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
export const CLOCK_TICKS: number = readClockTicks();

/** User plus system CPU time of a process so far, in milliseconds, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name, field 3 (state) is rest[0]; utime is field 14 and stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc/${pid}/stat`);
  return ((utime + stime) * 1000) / CLOCK_TICKS;
}

/** System (kernel) CPU time of a process so far, in milliseconds: the stime part of `cpuMs`. */
export function systemCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const stime = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[12]);
  if (!Number.isFinite(stime)) throw new Error(`unreadable /proc/${pid}/stat`);
  return (stime * 1000) / CLOCK_TICKS;
}

/** How many times the process's main thread has waited so far (voluntary context switches): for an event loop, its wake-ups. */
export function mainThreadWaits(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
  const match = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
  if (match?.[1] === undefined) throw new Error(`no voluntary_ctxt_switches in /proc/${pid}/task/${pid}/status`);
  return Number(match[1]);
}

/** User plus system CPU time of a process's main thread (the event loop) so far, in milliseconds. */
export function mainThreadCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLOCK_TICKS;
}

/** CPU ms so far of each of a process's threads, summed by thread name (`node` is the main thread; V8's workers run GC and compiling). */
export function threadCpuMs(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ms = ((Number(rest[11]) + Number(rest[12])) * 1000) / CLOCK_TICKS;
    byName.set(name, (byName.get(name) ?? 0) + ms);
  }
  return byName;
}

/** Write-family syscalls a process has made so far (`syscw` in /proc/<pid>/io): for a server whose only writes are to its sockets, one per write to a socket. */
export function writeSyscalls(pid: number): number {
  const match = /^syscw:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
  if (match?.[1] === undefined) throw new Error(`no syscw in /proc/${pid}/io`);
  return Number(match[1]);
}

/** Resident set size of a process, in bytes, from the VmRSS line of /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match?.[1] === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

function readClockTicks(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    // USER_HZ is 100 on every Linux architecture Node runs on.
    return 100;
  }
}
