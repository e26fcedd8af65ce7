import { Command } from "commander";
import { CommandFailure, ExitCode } from "./exit-codes.js";
import { withClient, withConnectionOptions, type ConnectionOptions } from "./options.js";
import { action } from "./run.js";
import { formatValue, printLine } from "./values.js";

interface CounterOptions extends ConnectionOptions {
  json?: boolean;
}

const OPERATIONS = ["get", "incr", "set"] as const;
type Operation = (typeof OPERATIONS)[number];

/** `leasehold counter NAME [get | incr [DELTA] | set VALUE]`: prints the counter's value after the operation. */
export function counterCommand(): Command {
  return withConnectionOptions(new Command("counter"))
    .description("read or change an atomic counter; prints its value")
    .argument("<name>", "the counter's name")
    .argument("[operation]", "get (default), incr [DELTA] (default 1, may be negative), or set VALUE", "get")
    .argument("[number]", "the DELTA of incr or the VALUE of set")
    .option("--json", "print JSON for scripts")
    .action(
      action(async (name: string, operation: string, number: string | undefined, options: CounterOptions) => {
        const op = operationOf(operation);
        const amount = number === undefined ? undefined : safeInteger(number);
        if (op === "set" && amount === undefined) throw new CommandFailure(ExitCode.USAGE, "set needs a VALUE: leasehold counter NAME set 42");
        if (op === "get" && amount !== undefined) throw new CommandFailure(ExitCode.USAGE, "get takes no number");
        return withClient(options, async (client) => {
          let value: number;
          if (op === "incr") value = await client.counters.increment(name, amount ?? 1);
          else if (op === "set") {
            value = amount ?? 0;
            await client.counters.set(name, value);
          } else value = await client.counters.get(name);
          printLine(options.json ? formatValue({ name, value }) : String(value));
          return ExitCode.OK;
        });
      }),
    );
}

function operationOf(text: string): Operation {
  const op = OPERATIONS.find((each) => each === text);
  if (op === undefined) throw new CommandFailure(ExitCode.USAGE, `unknown counter operation "${text}": use get, incr or set`);
  return op;
}

function safeInteger(text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value)) throw new CommandFailure(ExitCode.USAGE, `"${text}" is not an integer within ±${Number.MAX_SAFE_INTEGER}`);
  return value;
}
