import { Command } from "commander";
import { TimeoutError } from "@leasehold/client";
import type { Value } from "@leasehold/protocol";
import { CommandFailure, EXIT_CODES_HELP, ExitCode } from "./exit-codes.js";
import { holdAndRun, holdHelp, holdOptions, type HoldOptions } from "./hold.js";
import { withClient, withConnectionOptions } from "./options.js";
import { action, printUntilInterrupted } from "./run.js";
import { formatValue, parseValue, printLine } from "./values.js";

interface ElectOptions extends HoldOptions {
  value?: string;
  observe?: boolean;
  json?: boolean;
}

/**
 * `leasehold elect NAME -- command`: runs a command while this process leads the election, with
 * `lock`'s handling of waits, signals and losses; `leasehold elect --observe NAME` prints each leader.
 */
export function electCommand(): Command {
  return holdOptions(withConnectionOptions(new Command("elect")))
    .description("run a command while this process is the leader of an election, or --observe its leaders")
    .argument("<name>", "the election's name")
    .argument("[command...]", "the command and its arguments, after --; run without a shell")
    .option("--value <json>", "what observers see while this process leads (JSON)")
    .option("--observe", "print the leader, then each new leader, until interrupted")
    .option("--json", "with --observe: one JSON line per leader")
    .addHelpText("after", `${holdHelp("LEASEHOLD_ELECTION", "leadership")}\n${EXIT_CODES_HELP}`)
    .action(
      action(async (name: string, argv: string[], options: ElectOptions) => {
        if (options.observe) {
          if (argv.length > 0) throw new CommandFailure(ExitCode.USAGE, "--observe runs no command: drop what follows --, or drop --observe to lead");
          return observe(name, options);
        }
        if (argv.length === 0) throw new CommandFailure(ExitCode.USAGE, "no command given: write it after -- (or --observe to watch the leaders)");
        const value: Value = options.value === undefined ? null : parseValue(options.value, "--value");
        return holdAndRun(options, {
          argv,
          nameVariable: ["LEASEHOLD_ELECTION", name],
          take: async (client, leaseId, wait, signal) => {
            try {
              const term = await client.elections.campaign(name, leaseId, { value, wait, signal });
              return { token: term.token, signal: term.signal };
            } catch (error) {
              // campaign answers "not elected" with a TimeoutError (--try found a leader, --wait ran out).
              if (error instanceof TimeoutError) return undefined;
              throw error;
            }
          },
          refused: { try: `not elected leader of "${name}": it has a leader (--try)`, wait: `not elected leader of "${name}": the wait ran out (--wait)` },
        });
      }),
    );
}

/** Prints the leader and each change (`vacant` when there is none) until SIGINT, SIGTERM or SIGHUP. */
function observe(name: string, options: ElectOptions): Promise<number> {
  return withClient(options, (client) =>
    printUntilInterrupted(client.elections.observe(name), (leader) => {
      if (options.json) printLine(formatValue({ name, leader }));
      else printLine(leader === null ? "vacant" : `leader ${formatValue(leader.value)} token ${leader.token}`);
    }),
  );
}
