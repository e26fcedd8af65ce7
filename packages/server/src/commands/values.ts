import type { Value } from "@leasehold/protocol";
import { CommandFailure, ExitCode } from "./exit-codes.js";

/**
 * Values go in and out of the CLI as JSON, so that `put k '{"n":1}'` stores a map and `get k` prints
 * it back the same way. Binary values (which JSON has no type for) print as {"$bytes": "<base64>"}.
 */
export function parseValue(text: string, what: string): Value {
  try {
    return JSON.parse(text) as Value;
  } catch {
    throw new CommandFailure(ExitCode.USAGE, `${what} must be JSON: ${JSON.stringify(text)} is not (quote a string as '"${text}"')`);
  }
}

/** One line of JSON for `value`. */
export function formatValue(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item instanceof Uint8Array ? { $bytes: Buffer.from(item).toString("base64") } : item));
}

/** Writes one line to stdout. */
export function printLine(text: string): void {
  process.stdout.write(`${text}\n`);
}
