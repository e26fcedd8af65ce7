import { Command } from "commander";
import { CommandFailure, EXIT_CODES_HELP, ExitCode } from "./exit-codes.js";
import { holdAndRun, holdHelp, holdOptions, type HoldOptions } from "./hold.js";
import { integer, withConnectionOptions } from "./options.js";
import { action } from "./run.js";

interface LockOptions extends HoldOptions {
  shared?: boolean;
  limit?: number;
}

/** `leasehold lock NAME -- command args...`: runs a command while holding a lock, as flock(1) does. */
export function lockCommand(): Command {
  return holdOptions(withConnectionOptions(new Command("lock")))
    .description("run a command while holding a lock (exclusive, shared, or one of --limit slots)")
    .argument("<name>", "the lock's name")
    .argument("<command...>", "the command and its arguments, after --; run without a shell")
    .option("--shared", "take the lock shared: many shared holders at once, no exclusive one")
    .option("--limit <n>", "a semaphore: one of at most N holders (every user of the name must give the same N)", integer(1, 1_000_000))
    .addHelpText("after", `${holdHelp("LEASEHOLD_LOCK", "lock")}\n${LOCK_DELAY_HELP}\n${EXIT_CODES_HELP}`)
    .action(
      action(async (name: string, argv: string[], options: LockOptions) => {
        if (options.shared && options.limit !== undefined) throw new CommandFailure(ExitCode.USAGE, "--shared and --limit do not go together: a semaphore's slots are exclusive");
        const lockDelayMs = lockDelayFor(options.killAfter);
        return holdAndRun(options, {
          argv,
          nameVariable: ["LEASEHOLD_LOCK", name],
          take: async (client, leaseId, wait, signal) => {
            const lock =
              options.limit === undefined
                ? await client.locks.acquire(name, leaseId, { wait, signal, mode: options.shared ? "shared" : "exclusive", lockDelayMs })
                : await client.semaphores.acquire(name, leaseId, { limit: options.limit, wait, signal, lockDelayMs });
            return lock.acquired && lock.token !== undefined ? { token: lock.token, signal: lock.signal } : undefined;
          },
          refused: { try: `"${name}" was not acquired: it is held (--try)`, wait: `"${name}" was not acquired: the wait ran out (--wait)` },
        });
      }),
    );
}

/**
 * The lock-delay the CLI asks for: --kill-after, plus a second for the news of a loss to reach it
 * (an admin's release is told by a message), so that the next holder is never granted while this
 * command may still be running after the server gave the lock up. A clean exit releases at once.
 */
function lockDelayFor(killAfterMs: number): number {
  return killAfterMs + LOSS_NEWS_MS;
}

const LOSS_NEWS_MS = 1_000;

const LOCK_DELAY_HELP = `The lock carries a lock-delay of --kill-after + ${LOSS_NEWS_MS / 1_000} s: when it is lost rather than released, the
server grants it to nobody else until then, so that the next holder never runs beside a command
that is still being stopped.`;
