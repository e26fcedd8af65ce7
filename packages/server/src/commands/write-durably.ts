import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { CommandFailure, ExitCode } from "./exit-codes.js";

/**
 * Writes `bytes` to `file` whole or not at all: into `file.tmp`, fsynced, then renamed over `file`
 * and the directory fsynced, so that a crash leaves the previous file or the new one, never half of one.
 */
export function writeFileDurably(file: string, bytes: Uint8Array): void {
  const temporary = `${file}.tmp`;
  try {
    const fd = openSync(temporary, "w");
    try {
      writeFileSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
    const directory = openSync(dirname(file), "r");
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
  } catch (error) {
    throw new CommandFailure(ExitCode.CANNOT_CREATE, `cannot write ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
