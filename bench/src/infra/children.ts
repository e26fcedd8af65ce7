import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";

/**
 * Every process the harness starts is registered here, so that one call stops them all on the
 * way out, whether the run ended, failed or was interrupted. Nothing else in the harness kills.
 */

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL if it is still there after `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnSpec {
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Soft RLIMIT_NOFILE for the child. Node cannot call setrlimit, so the child is started through
   * `sh -c 'ulimit -n N; exec ...'`: `exec` keeps the pid, so the pid we measure is the real process.
   */
  fileLimit?: number;
  /** Keep stdin open as a pipe (the session holders read their "stop" from it). */
  stdin?: boolean;
}

const live = new Set<Child>();

export function spawnChild(spec: SpawnSpec): Child {
  const useShell = spec.fileLimit !== undefined;
  const command = useShell ? "/bin/sh" : spec.command;
  const args = useShell
    ? ["-c", `ulimit -n ${spec.fileLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, spec.command, ...spec.args]
    : [...spec.args];
  const proc = spawn(command, args, {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    stdio: [spec.stdin === true ? "pipe" : "ignore", "pipe", "pipe"],
  });
  if (proc.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
  const exited = new Promise<number | string>((resolve) => {
    proc.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
    proc.once("error", () => resolve("spawn-error"));
  });
  let stopping: Promise<void> | undefined;
  const child: Child = {
    name: spec.name,
    pid: proc.pid,
    process: proc,
    exited,
    stop(graceMs = 5_000) {
      stopping ??= stopProcess(proc, exited, graceMs);
      return stopping;
    },
  };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

/**
 * A process that is killed (SIGKILL), paused (SIGSTOP), resumed (SIGCONT) and started again: an etcd
 * member, a gateway, the chaos run's single server. A subclass starts it and keeps it in `child`.
 */
export class RestartableChild {
  protected child: Child | undefined;

  /** SIGKILL; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.process.kill("SIGKILL");
    await child.exited;
  }

  pause(): void {
    this.child?.process.kill("SIGSTOP");
  }

  resume(): void {
    this.child?.process.kill("SIGCONT");
  }

  /** Resumed first: a stopped process would not act on the SIGTERM until its grace ran out. */
  async stop(): Promise<void> {
    this.resume();
    await this.child?.stop();
  }
}

/** Stops every child still running, in parallel. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((child) => child.stop()));
}

/** Last resort from a synchronous `exit` handler: no waiting is possible there. */
export function killAllChildrenNow(): void {
  for (const child of live) {
    try {
      child.process.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * Reads a child's stdout line by line until `match` returns a value, or fails when the child exits
 * first or `timeoutMs` passes. The last lines seen (stdout and stderr) go into the error message.
 */
export function waitForLine<T>(child: Child, match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
  const stdout = child.process.stdout;
  const stderr = child.process.stderr;
  if (stdout === null || stderr === null) return Promise.reject(new Error(`${child.name}: no stdout`));
  const seen: string[] = [];
  return new Promise<T>((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        remember(seen, line);
        const found = match(line);
        if (found !== undefined) {
          finish();
          resolve(found);
          return;
        }
        newline = buffered.indexOf("\n");
      }
    };
    const onErr = (chunk: Buffer) => remember(seen, chunk.toString("utf8").trimEnd());
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`${child.name}: no expected output within ${timeoutMs} ms; last output:\n${seen.join("\n")}`));
    }, timeoutMs);
    void child.exited.then((code) => {
      finish();
      reject(new ChildExitedError(child.name, code, seen.join("\n")));
    });
    function finish() {
      clearTimeout(timer);
      stdout?.off("data", onData);
      stderr?.off("data", onErr);
    }
    stdout.on("data", onData);
    stderr.on("data", onErr);
  });
}

export class ChildExitedError extends Error {
  constructor(
    readonly childName: string,
    readonly code: number | string,
    readonly output: string,
  ) {
    super(`${childName} exited (${code}) before it was ready; output:\n${output}`);
  }
}

/** Drains a child's output so that a full pipe never blocks it; keeps the tail for diagnostics. */
export function drainOutput(child: Child, tail: string[] = [], keep = 20): string[] {
  const add = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line !== "") remember(tail, line, keep);
  };
  child.process.stdout?.on("data", add);
  child.process.stderr?.on("data", add);
  return tail;
}

/** Appends `line` to `lines`, dropping the oldest beyond `keep`. */
export function remember(lines: string[], line: string, keep = 40): void {
  lines.push(line);
  if (lines.length > keep) lines.shift();
}

async function stopProcess(proc: ChildProcess, exited: Promise<number | string>, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  try {
    await Promise.race([exited, once(proc, "exit")]);
  } finally {
    clearTimeout(timer);
  }
}
