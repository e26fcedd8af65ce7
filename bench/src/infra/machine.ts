import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import os from "node:os";

/** What the report says about the machine, so that figures from different runs can be told apart. */
export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  redis: string;
  etcd: string;
  fileLimit: { soft: number; hard: number };
}

export function machineFacts(): MachineFacts {
  const cpuinfo = safeRead("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown";
  const osRelease = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(safeRead("/etc/os-release"))?.[1] ?? os.type();
  return {
    cpuModel: model.trim(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: osRelease,
    node: process.version,
    redis: firstLine(run("redis-server", ["--version"])),
    etcd: firstLine(run("etcd", ["--version"])),
    fileLimit: fileLimits(),
  };
}

/** Soft and hard RLIMIT_NOFILE that a child gets; the sessions workload sizes itself by the hard one. */
export function fileLimits(): { soft: number; hard: number } {
  const soft = Number(run("/bin/sh", ["-c", "ulimit -Sn"]).trim());
  const hard = Number(run("/bin/sh", ["-c", "ulimit -Hn"]).trim());
  const asNumber = (value: number) => (Number.isFinite(value) ? value : Number.MAX_SAFE_INTEGER);
  return { soft: asNumber(soft), hard: asNumber(hard) };
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch {
    return "not installed";
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0]?.trim() ?? "";
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
