import { constants } from "node:os";
import {
  BadRequestError,
  ConflictError,
  ConnectionError,
  LeaseExpiredError,
  LeaseNotFoundError,
  LimitExceededError,
  PermissionError,
  SessionExpiredError,
  TimeoutError,
} from "@leasehold/client";

/**
 * The exit statuses of the client commands. They follow sysexits(3) where one fits, and flock(1)
 * for "not acquired" (1, changed with `-E`), so that a shell script can tell "somebody else has it"
 * from "the service is down" from "you may not".
 */
export const ExitCode = {
  OK: 0,
  /** Not acquired (`--try` refused, `--wait` ran out), not found, or a compare-and-set that did not match. */
  NOT_ACQUIRED: 1,
  /** Bad flags or arguments, or a request the server refused as malformed (EX_USAGE). */
  USAGE: 64,
  /** `restore`: the backup file is damaged, truncated, or of a newer format (EX_DATAERR). */
  DATA_ERROR: 65,
  /** `backup`, `restore`, `import`: the file or data directory to read cannot be read (EX_NOINPUT). */
  NO_INPUT: 66,
  /** The server could not be reached, or the connection was lost before the grant (EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
  /** The server failed, or something unexpected happened (EX_SOFTWARE). */
  INTERNAL: 70,
  /** `backup`, `restore`, `import`: the target holds data (without --force), is in use by a server, or cannot be written (EX_CANTCREAT). */
  CANNOT_CREATE: 73,
  /** The lock or leadership was lost while the command ran; wins over the command's own status (EX_TEMPFAIL). */
  LOST: 75,
  /** The credential was refused, or the principal lacks the right (EX_NOPERM). */
  PERMISSION: 77,
  /** The command was found but could not be started (as in sh). */
  CANNOT_RUN: 126,
  /** The command was not found (as in sh). */
  NOT_FOUND: 127,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ForwardedSignal = "SIGINT" | "SIGTERM" | "SIGHUP";
export const FORWARDED_SIGNALS: readonly ForwardedSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** The status of a process that ended on a signal, as shells report it: 128 + the signal's number. */
export function signalStatus(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/** The table printed under `--help` of `lock` and `elect` (the README has the same). */
export const EXIT_CODES_HELP = `
Exit status:
  N        the command's own status (128+N if it died of signal N)
  1        not acquired: --try refused or --wait ran out (-E N changes it)
  64       usage error (bad flags or arguments)
  69       server unreachable, or the connection was lost before the grant
  70       internal error (the server failed)
  75       the lock was lost while the command ran (wins over the command's status)
  77       credential refused or permission denied
  126/127  the command could not be run / was not found
  129/130/143  interrupted (SIGHUP/SIGINT/SIGTERM) before the grant`;

/** An error that ends a command with a given status and a message for people. */
export class CommandFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "CommandFailure";
  }
}

/** The exit status for an error thrown by the client or by a command. */
export function exitStatusOf(error: unknown): number {
  if (error instanceof CommandFailure) return error.status;
  if (error instanceof PermissionError) return ExitCode.PERMISSION;
  if (error instanceof BadRequestError) return ExitCode.USAGE;
  // A mode or limit that does not match what the other users of the name asked for is a usage error too.
  if (error instanceof ConflictError) return error.code === "REVISION_MISMATCH" ? ExitCode.NOT_ACQUIRED : ExitCode.USAGE;
  if (error instanceof TimeoutError) return ExitCode.NOT_ACQUIRED;
  if (
    error instanceof ConnectionError ||
    error instanceof SessionExpiredError ||
    error instanceof LeaseExpiredError ||
    error instanceof LeaseNotFoundError ||
    error instanceof LimitExceededError
  ) {
    return ExitCode.UNAVAILABLE;
  }
  return ExitCode.INTERNAL;
}
