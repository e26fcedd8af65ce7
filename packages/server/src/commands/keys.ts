import { Command } from "commander";
import type { WatchEvent } from "@leasehold/client";
import { ExitCode } from "./exit-codes.js";
import { integer, withClient, withConnectionOptions, type ConnectionOptions } from "./options.js";
import { action, printUntilInterrupted } from "./run.js";
import { formatValue, parseValue, printLine } from "./values.js";

interface KeyOptions extends ConnectionOptions {
  prefix?: boolean;
  json?: boolean;
  ifRevision?: number;
  fromRevision?: number;
}

/** `leasehold get/put/del/ls/watch`, in the style of etcdctl; values are JSON. */
export function keyCommands(): Command[] {
  return [
    keyCommand("get", "print a key's value (JSON), or with --prefix every key under it; exits 1 when there is none")
      .argument("<key>", "the key, or with --prefix the start of the keys")
      .option("--prefix", "every key that starts with <key>")
      .action(
        action(async (key: string, options: KeyOptions) =>
          withClient(options, async (client) => {
            if (options.prefix) {
              const items = await client.list(key);
              for (const item of items) printLine(options.json ? formatValue(item) : `${item.key}\t${formatValue(item.value)}`);
              return items.length > 0 ? ExitCode.OK : ExitCode.NOT_ACQUIRED;
            }
            const entry = await client.get(key);
            if (entry === null) return ExitCode.NOT_ACQUIRED;
            printLine(options.json ? formatValue({ key, ...entry }) : formatValue(entry.value));
            return ExitCode.OK;
          }),
        ),
      ),
    keyCommand("put", "write a value (JSON) under a key and print the change's revision")
      .argument("<key>", "the key")
      .argument("<value>", `the value as JSON: '"text"', 42, '{"a":[1,2]}'`)
      .option("--if-revision <revision>", "compare-and-set: write only if the key is at this revision (0: only if absent); exits 1 otherwise", integer(0, Number.MAX_SAFE_INTEGER))
      .action(
        action(async (key: string, text: string, options: KeyOptions) => {
          const value = parseValue(text, "the value");
          return withClient(options, async (client) => {
            const { revision } = await client.put(key, value, { ifRevision: options.ifRevision });
            printLine(options.json ? formatValue({ key, revision }) : String(revision));
            return ExitCode.OK;
          });
        }),
      ),
    keyCommand("del", "delete a key, or with --prefix every key under it, and print how many were deleted")
      .argument("<key>", "the key, or with --prefix the start of the keys")
      .option("--prefix", "every key that starts with <key>")
      .option("--if-revision <revision>", "delete only if the key is at this revision; exits 1 otherwise", integer(1, Number.MAX_SAFE_INTEGER))
      .action(
        action(async (key: string, options: KeyOptions) =>
          withClient(options, async (client) => {
            // The protocol deletes one key at a time: a prefix is listed, then deleted key by key.
            const keys = options.prefix ? (await client.list(key)).map((item) => item.key) : [key];
            let deleted = 0;
            for (const each of keys) if ((await client.delete(each, { ifRevision: options.ifRevision })).deleted) deleted++;
            printLine(options.json ? formatValue({ deleted }) : String(deleted));
            return ExitCode.OK;
          }),
        ),
      ),
    keyCommand("ls", "list the keys under a prefix (with --json, their values and revisions too)")
      .argument("[prefix]", "the start of the keys; default: every key", "")
      .action(
        action(async (prefix: string, options: KeyOptions) =>
          withClient(options, async (client) => {
            for (const item of await client.list(prefix)) printLine(options.json ? formatValue(item) : item.key);
            return ExitCode.OK;
          }),
        ),
      ),
    keyCommand("watch", "print every change of a key (or with --prefix of the keys under it) until interrupted")
      .argument("<key>", "the key, or with --prefix the start of the keys")
      .option("--prefix", "every key that starts with <key>")
      .option("--from-revision <revision>", "start with the changes from this revision on (while the server still keeps them)", integer(1, Number.MAX_SAFE_INTEGER))
      .action(action(async (key: string, options: KeyOptions) => watch(key, options))),
  ];
}

function keyCommand(name: string, description: string): Command {
  return withConnectionOptions(new Command(name)).description(description).option("--json", "print JSON, one document a line, for scripts");
}

async function watch(key: string, options: KeyOptions): Promise<number> {
  return withClient(options, (client) =>
    // A watch is on a prefix; a single key is the prefix with the other keys under it left out.
    printUntilInterrupted(client.watch(key, { fromRevision: options.fromRevision }), (event) => {
      if (options.prefix || event.key === key) printLine(options.json ? formatValue(event) : describe(event));
    }),
  );
}

function describe(event: WatchEvent): string {
  return event.type === "put" ? `put ${event.key} ${formatValue(event.value)} (revision ${event.revision})` : `delete ${event.key} (revision ${event.revision})`;
}
