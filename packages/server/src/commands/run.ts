import type { Command, CommanderError } from "commander";
import { exitStatusOf, ExitCode, FORWARDED_SIGNALS, signalStatus, type ForwardedSignal } from "./exit-codes.js";

/**
 * Wraps a command's action: whatever it returns is the exit status; whatever it throws is printed
 * for people and turned into a status by `exitStatusOf`. The process exits then, so that a
 * reconnect timer or a half-closed socket can never keep a finished command alive.
 */
export function action<Args extends unknown[]>(run: (...args: Args) => Promise<number>): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    let status: number;
    try {
      status = await run(...args);
    } catch (error) {
      process.stderr.write(`leasehold: ${error instanceof Error ? error.message : String(error)}\n`);
      status = exitStatusOf(error);
    }
    process.exit(status);
  };
}

/** Bad flags or arguments exit 64 (EX_USAGE) rather than commander's 1, which means "not acquired" here. */
export function usageErrorsExit64(command: Command): Command {
  return command.exitOverride((error: CommanderError) => {
    if (error.exitCode === 0) process.exit(0);
    process.exit(ExitCode.USAGE);
  });
}

/** Routes SIGINT, SIGTERM and SIGHUP to `handler` until the returned undo is called. */
export function trapSignals(handler: (signal: ForwardedSignal) => void): () => void {
  const listeners = FORWARDED_SIGNALS.map((signal) => [signal, () => handler(signal)] as const);
  for (const [signal, listener] of listeners) process.on(signal, listener);
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}

/**
 * Hands each item of a subscription (a watch, an election observer, the admin feed) to `print` until
 * SIGINT, SIGTERM or SIGHUP (128+N, as a shell reports an interrupted command) or until the
 * subscription ends (0) or fails (its error is thrown).
 */
export async function printUntilInterrupted<T>(subscription: AsyncIterable<T> & { close(): void }, print: (item: T) => void): Promise<number> {
  let untrap = () => {};
  const interrupted = new Promise<number>((resolve) => {
    untrap = trapSignals((signal) => resolve(signalStatus(signal)));
  });
  const printing = (async () => {
    for await (const item of subscription) print(item);
    return ExitCode.OK;
  })();
  try {
    return await Promise.race([interrupted, printing]);
  } finally {
    untrap();
    subscription.close();
  }
}
