import type { Command } from "commander";
import { counterCommand } from "./counter.js";
import { electCommand } from "./elect.js";
import { keyCommands } from "./keys.js";
import { lockCommand } from "./lock.js";
import { releaseCommand } from "./release.js";
import { usageErrorsExit64 } from "./run.js";
import { statusCommand } from "./status.js";

/** Adds the client commands (lock, elect, get/put/del/ls/watch, counter, status, release) to the `leasehold` program. */
export function addClientCommands(program: Command): void {
  for (const command of [lockCommand(), electCommand(), ...keyCommands(), counterCommand(), statusCommand(), releaseCommand()]) {
    program.addCommand(usageErrorsExit64(command));
  }
}
