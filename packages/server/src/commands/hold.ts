import { spawn } from "node:child_process";
import { Option, type Command } from "commander";
import { CommandFailure, ExitCode, signalStatus } from "./exit-codes.js";
import type { LeaseholdClient } from "@leasehold/client";
import { connectFrom, duration, integer, type ConnectionOptions } from "./options.js";
import { trapSignals } from "./run.js";

/** The options `lock` and `elect` share: how long to wait, the lease's TTL, and what happens on a loss. */
export function holdOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--ttl <duration>", "TTL of the lease the hold is under: how long the server keeps it after it last heard from this process")
        .argParser(duration(100, 86_400_000))
        .default(10_000, "10s"),
    )
    .option("--wait <duration>", "give up after waiting this long (250ms, 10s, 2m, or seconds); default: wait forever", duration(0, 86_400_000))
    .option("--try", "do not wait: give up at once if it is taken")
    .addOption(
      new Option("--kill-after <duration>", "on a loss the command gets SIGTERM, then SIGKILL after this long")
        .argParser(duration(0, 3_600_000))
        .default(5_000, "5s"),
    )
    .option("-E, --conflict-exit-code <status>", "exit status when not acquired (--try refused, --wait ran out)", integer(0, 255), 1);
}

/** The wait to ask for: none with --try, at most --wait, else without limit. */
export function waitOf(options: { wait?: number; try?: boolean }): boolean | number {
  if (options.try && options.wait !== undefined) throw new CommandFailure(ExitCode.USAGE, "--try and --wait do not go together: --try does not wait at all");
  if (options.try) return false;
  return options.wait ?? true;
}

/** What `lock --help` and `elect --help` say about the command's environment, signals and losses. */
export function holdHelp(nameVariable: string, what: string): string {
  return `
The command runs without a shell (write sh -c '...' for one), with ${nameVariable} (the name),
LEASEHOLD_FENCING_TOKEN (grows with every grant: pass it to fenced writes) and LEASEHOLD_LEASE in its
environment. SIGINT, SIGTERM and SIGHUP sent to leasehold are passed on to it; the ${what} is given up
when it exits. If the ${what} is lost while it runs (the server did not hear from this process within
--ttl, or an admin released it), the command gets SIGTERM, then SIGKILL after --kill-after.
If leasehold itself is killed with SIGKILL, the command is orphaned and runs on without the ${what}.`;
}

/** What `lock` and `elect` share of their options (see `holdOptions`). */
export interface HoldOptions extends ConnectionOptions {
  ttl: number;
  wait?: number;
  try?: boolean;
  killAfter: number;
  conflictExitCode: number;
}

/** A grant as `holdAndRun` needs it: the fencing token, and the signal that aborts when it is lost. */
export interface Grant {
  token: number;
  signal: AbortSignal;
}

/**
 * The whole of `lock` and `elect`: connects, grants a lease of --ttl, asks for the hold with `take`
 * (which passes `signal` on to its wait, and resolves undefined when not granted), then runs the
 * command while it is held (`runWhileHeld`), and closes the client, which releases everything at
 * once. Resolves with the exit status.
 */
export async function holdAndRun(
  options: HoldOptions,
  spec: {
    argv: string[];
    /** The environment variable naming the hold for the command (LEASEHOLD_LOCK, LEASEHOLD_ELECTION) and its value. */
    nameVariable: [string, string];
    take: (client: LeaseholdClient, leaseId: number, wait: boolean | number, signal: AbortSignal) => Promise<Grant | undefined>;
    /** Why it was not granted, with --try and with --wait. */
    refused: { try: string; wait: string };
  },
): Promise<number> {
  const wait = waitOf(options);
  const client = await connectFrom(options);
  try {
    const { grant, leaseId } = await beforeGrant(async (interrupted) => {
      const lease = await client.leases.grant(options.ttl);
      return { grant: await spec.take(client, lease.id, wait, AbortSignal.any([interrupted, lease.signal])), leaseId: lease.id };
    });
    if (grant === undefined) {
      process.stderr.write(`leasehold: ${options.try ? spec.refused.try : spec.refused.wait}\n`);
      return options.conflictExitCode;
    }
    const [variable, name] = spec.nameVariable;
    return await runWhileHeld({
      argv: spec.argv,
      env: { [variable]: name, LEASEHOLD_FENCING_TOKEN: String(grant.token), LEASEHOLD_LEASE: String(leaseId) },
      lost: grant.signal,
      killAfterMs: options.killAfter,
    });
  } finally {
    // The goodbye releases the lease and what it holds at once: the next waiter is granted without waiting for a TTL.
    await client.close();
  }
}

/**
 * Runs `work` (connect, grant, acquire or campaign) until it resolves, unless SIGINT, SIGTERM or
 * SIGHUP comes first: then it fails with 128+N ("interrupted before the grant"), and `signal`, which
 * `work` passes on to its wait, withdraws the request from the queue.
 */
async function beforeGrant<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const untrap = trapSignals((signal) => controller.abort(new CommandFailure(signalStatus(signal), `interrupted by ${signal} before the grant`)));
  const interrupted = new Promise<never>((_, reject) => controller.signal.addEventListener("abort", () => reject(controller.signal.reason as Error), { once: true }));
  try {
    return await Promise.race([work(controller.signal), interrupted]);
  } finally {
    untrap();
  }
}

export interface HeldCommand {
  /** The program and its arguments; run without a shell. */
  argv: string[];
  /** Added to the CLI's own environment. */
  env: Record<string, string>;
  /** Aborts when what the command runs under (a lock, a leadership) is lost; its reason says why. */
  lost: AbortSignal;
  /** After SIGTERM on a loss, how long the command has to exit before SIGKILL. */
  killAfterMs: number;
}

/**
 * Runs the command while something is held, and resolves with the CLI's exit status: the command's
 * own (128+N if a signal N ended it), or 75 when the hold was lost meanwhile, whatever the command
 * did then. SIGINT, SIGTERM and SIGHUP sent to the CLI are passed on to the command. On a loss the
 * command gets SIGTERM, then SIGKILL after `killAfterMs` if it is still running.
 */
export function runWhileHeld(held: HeldCommand): Promise<number> {
  const [file, ...args] = held.argv;
  if (file === undefined) return Promise.reject(new CommandFailure(ExitCode.USAGE, "no command given: write it after --"));
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: "inherit", env: { ...process.env, ...held.env } });
    let lostWhileRunning = false;
    let killTimer: NodeJS.Timeout | undefined;
    const untrap = trapSignals((signal) => child.kill(signal));
    const onLost = () => {
      lostWhileRunning = true;
      const reason: unknown = held.lost.reason;
      process.stderr.write(
        `leasehold: ${reason instanceof Error ? reason.message : "lost"}; stopping ${file} (SIGTERM, then SIGKILL after ${held.killAfterMs} ms)\n`,
      );
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), held.killAfterMs);
    };
    const finish = (status: number) => {
      untrap();
      held.lost.removeEventListener("abort", onLost);
      clearTimeout(killTimer);
      resolve(lostWhileRunning ? ExitCode.LOST : status);
    };
    if (held.lost.aborted) onLost();
    else held.lost.addEventListener("abort", onLost, { once: true });
    child.once("error", (error: NodeJS.ErrnoException) => {
      // Only a spawn failure gets here before "exit": the command never ran.
      if (child.pid !== undefined) return;
      process.stderr.write(`leasehold: cannot run ${file}: ${error.message}\n`);
      finish(error.code === "ENOENT" ? ExitCode.NOT_FOUND : ExitCode.CANNOT_RUN);
    });
    child.once("exit", (code, signal) => finish(signal !== null ? signalStatus(signal) : (code ?? ExitCode.INTERNAL)));
  });
}
