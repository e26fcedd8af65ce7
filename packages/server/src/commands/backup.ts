import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { CommandFailure, ExitCode } from "./exit-codes.js";
import { action } from "./run.js";
import { BackupFileError, decodeBackup, encodeBackup, type Backup } from "../persistence/backup-file.js";
import { describeState, isEmptyState, type Storage, type StoredState } from "../persistence/storage.js";
import { readSnapshot, SqliteStorage } from "../persistence/sqlite-storage.js";
import { restoreInto } from "../persistence/token-floor.js";
import { readEtcdSnapshot, withEtcdStorage, type EtcdTarget } from "./etcd-target.js";
import { writeFileDurably } from "./write-durably.js";

/**
 * `leasehold backup`, `restore` and `import`: copies of a store's state in one file, and back, for
 * either kind of store (a SQLite data directory, or a cluster's prefix in etcd). See README.md,
 * "Backup and restore", and persistence/token-floor.ts for why tokens stay ordered across a restore.
 */
export function dataCommands(): Command[] {
  return [backupCommand(), restoreCommand(), importCommand()];
}

interface StoreOptions {
  dataDir?: string;
  etcd?: string;
  etcdPrefix: string;
}

function backupCommand(): Command {
  return withStoreOptions(new Command("backup"))
    .description("write a consistent copy of a store's state to a file, while its server runs")
    .requiredOption("--out <file>", "the backup file to write (replaced whole once complete)")
    .action(
      action(async (options: StoreOptions & { out: string }) => {
        const takenAt = new Date();
        const { state, kind, source } = await readStore(options);
        const { bytes, header } = encodeBackup(state, kind, source, takenAt);
        writeFileDurably(options.out, bytes);
        process.stdout.write(`backed up ${source} to ${options.out}: ${describeState(state)}; max token ${header.maxToken}, revision ${header.maxRevision}\n`);
        return ExitCode.OK;
      }),
    );
}

function restoreCommand(): Command {
  return withStoreOptions(new Command("restore"))
    .description("replace a store's state by a backup's; every token handed out afterwards exceeds every one before (stop the server or gateways first)")
    .argument("<file>", "a file written by leasehold backup")
    .option("--force", "replace a store that already holds data")
    .action(
      action(async (file: string, options: StoreOptions & { force?: boolean }) => {
        const backup = readBackup(file);
        return restoreTo(options, backup, `${file} (taken ${backup.header.takenAt} from ${backup.header.source})`, options.force === true);
      }),
    );
}

function importCommand(): Command {
  return new Command("import")
    .description("copy a single-node data directory into a cluster's etcd (stop the server and the gateways first)")
    .requiredOption("--from-data-dir <dir>", "the data directory of the single-node server")
    .addOption(etcdOption().makeOptionMandatory())
    .addOption(etcdPrefixOption())
    .option("--force", "replace a cluster state that already holds data")
    .action(
      action(async (options: { fromDataDir: string; etcd: string; etcdPrefix: string; force?: boolean }) => {
        const state = readSqlite(options.fromDataDir);
        return restoreTo({ etcd: options.etcd, etcdPrefix: options.etcdPrefix }, { state }, resolve(options.fromDataDir), options.force === true);
      }),
    );
}

/** Adds `--data-dir` and `--etcd` (one of the two) and `--etcd-prefix`. */
function withStoreOptions(command: Command): Command {
  return command
    .addOption(new Option("--data-dir <dir>", "a single-node server's data directory (SQLite)").conflicts("etcd"))
    .addOption(etcdOption())
    .addOption(etcdPrefixOption());
}

function etcdOption(): Option {
  return new Option("--etcd <urls>", "a cluster's etcd client URLs, comma-separated").env("LEASEHOLD_ETCD");
}

function etcdPrefixOption(): Option {
  return new Option("--etcd-prefix <prefix>", "where in etcd the cluster keeps its keys (as serve --etcd-prefix)").env("LEASEHOLD_ETCD_PREFIX").default("/leasehold/");
}

async function readStore(options: StoreOptions): Promise<{ state: StoredState; kind: "sqlite" | "etcd"; source: string }> {
  if (options.dataDir !== undefined) return { state: readSqlite(options.dataDir), kind: "sqlite", source: resolve(options.dataDir) };
  const target = etcdTarget(options);
  return { state: await readEtcdSnapshot(target), kind: "etcd", source: `etcd ${target.endpoints.join(",")} ${target.prefix}` };
}

/** Writes `backup.state` over the store of `options`, refusing one with data unless `force`; prints what it did. */
async function restoreTo(options: StoreOptions, backup: Pick<Backup, "state">, from: string, force: boolean): Promise<number> {
  const { state } = backup;
  const replace = async (storage: Storage, current: StoredState, where: string) => {
    if (!isEmptyState(current) && !force) {
      throw new CommandFailure(
        ExitCode.CANNOT_CREATE,
        `${where} already holds data (${describeState(current)}); restoring replaces all of it: pass --force to replace it, or restore into an empty ${options.dataDir !== undefined ? "directory" : "prefix"}`,
      );
    }
    const floor = await restoreInto(storage, current, state, Date.now());
    process.stdout.write(`restored ${from} into ${where}: ${describeState(state)}; tokens and revisions go on above ${floor}\n`);
    return ExitCode.OK;
  };
  if (options.dataDir !== undefined) {
    const where = resolve(options.dataDir);
    const storage = openSqlite(where);
    try {
      return await replace(storage, storage.load(), where);
    } finally {
      storage.close();
    }
  }
  const target = etcdTarget(options);
  return withEtcdStorage(target, (storage, current) => replace(storage, current, `etcd ${target.endpoints.join(",")} ${target.prefix}`));
}

function etcdTarget(options: StoreOptions): EtcdTarget {
  if (options.etcd === undefined) throw new CommandFailure(ExitCode.USAGE, "say which store: --data-dir DIR (a single-node server) or --etcd URLS (a cluster)");
  const endpoints = options.etcd.split(",").map((url) => url.trim()).filter((url) => url !== "");
  if (endpoints.length === 0) throw new CommandFailure(ExitCode.USAGE, "--etcd needs at least one etcd client URL, such as http://127.0.0.1:2379");
  return { endpoints, prefix: options.etcdPrefix };
}

function readSqlite(dataDir: string): StoredState {
  try {
    return readSnapshot(dataDir);
  } catch (error) {
    throw new CommandFailure(ExitCode.NO_INPUT, messageOf(error));
  }
}

function openSqlite(dataDir: string): SqliteStorage {
  try {
    return new SqliteStorage(dataDir);
  } catch (error) {
    throw new CommandFailure(ExitCode.CANNOT_CREATE, `${messageOf(error)}; stop the server on it before restoring`);
  }
}

function readBackup(file: string): Backup {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new CommandFailure(ExitCode.NO_INPUT, `cannot read ${file}: ${messageOf(error)}`);
  }
  try {
    return decodeBackup(bytes, file);
  } catch (error) {
    if (error instanceof BackupFileError) throw new CommandFailure(ExitCode.DATA_ERROR, `${error.message}; nothing was restored`);
    throw error;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
