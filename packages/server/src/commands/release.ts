import { Command } from "commander";
import { ExitCode } from "./exit-codes.js";
import { withClient, withConnectionOptions, type ConnectionOptions } from "./options.js";
import { action } from "./run.js";
import { formatValue, printLine } from "./values.js";

/** `leasehold release NAME`: an admin takes a lock from its holders (they are told), and the next waiter is granted. */
export function releaseCommand(): Command {
  return withConnectionOptions(new Command("release"))
    .description("force-release a lock or semaphore (needs the admin right); its holders are told, the next waiter is granted; exits 1 when nobody held it")
    .argument("<name>", "the lock's name")
    .option("--json", "print JSON for scripts")
    .action(
      action(async (name: string, options: ConnectionOptions & { json?: boolean }) =>
        withClient(options, async (client) => {
          const released = await client.admin.forceRelease(name);
          printLine(options.json ? formatValue({ name, released }) : released ? `released "${name}"` : `"${name}" was not held`);
          return released ? ExitCode.OK : ExitCode.NOT_ACQUIRED;
        }),
      ),
    );
}
