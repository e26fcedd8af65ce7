import { closeSync, fsync, fsyncSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { systemClock, type Clock } from "@leasehold/protocol";
import { FsyncPlacement, type FsyncIn } from "./fsync-placement.js";
import { SqliteStorage, type SqliteOptions } from "./sqlite-storage.js";
import { StorageError, type Batch, type Storage, type StoredState } from "./storage.js";

/** Flushes a file to the disk and calls back, as `fs.fsync` does (in libuv's thread pool); tests hold it. */
export type Fsync = (fd: number, done: (error: NodeJS.ErrnoException | null) => void) => void;

/** Flushes a file to the disk before it returns, as `fs.fsyncSync` does; tests time it. */
export type FsyncInline = (fd: number) => void;

export interface BackgroundSyncOptions extends SqliteOptions {
  /** Default `fs.fsync`. */
  fsync?: Fsync;
  /** Default `fs.fsyncSync`. */
  fsyncInline?: FsyncInline;
  /** Times the inline fsyncs (FsyncPlacement). */
  clock?: Clock;
  /** Where each fsync runs: "measured" (the default: FsyncPlacement decides), always in the "pool" as on a slow disk, or always "inline". */
  fsyncIn?: FsyncIn;
}

/**
 * The server's SQLite store. With `sync: "full"` (the default) the transaction is written with
 * SQLite's `synchronous = NORMAL` (its frames handed to the operating system, no fsync), then the WAL
 * file is fsync'd by this class, where FsyncPlacement says: on a slow disk in libuv's thread pool,
 * and the write's promise resolves only then (the commit pipeline holds every reply behind that
 * promise and keeps one batch in flight, so a reply still goes out only after the fsync of its
 * changes, while the event loop reads and handles the next requests meanwhile: their changes go into
 * the next batch); on a fast disk inline, before `write` returns, as SQLite's FULL would.
 *
 * As durable as SQLite's own `synchronous = FULL`, which is NORMAL plus exactly this fsync of the WAL
 * after each commit (sqlite.org/pragma.html#pragma_synchronous): with NORMAL, SQLite still fsyncs the
 * WAL before each checkpoint, the database file after it, and the WAL's header when the file is reused.
 * An fsync flushes the file, whichever descriptor asks, and covers every write made before it began.
 *
 * Why: on this VM's disk an fsync took 0.9 to 2.6 ms while other work shared it (27 µs when quiet),
 * against about 0.35 ms of CPU for a commit of 8 puts; SQLite's fsync blocked the event loop for it.
 * A writer thread doing the whole commit was measured too and cost more CPU than it saved on a fast
 * disk (BENCHMARKS.md, "Durable writes (round 6)"). On a fast disk the pool's round trip costs more
 * than the fsync: about 50 µs of CPU per commit of 8 puts on tmpfs (226 against 177 µs), and the
 * replies' later turn splits 16 busy clients into two groups (7 puts per commit against 9.6), so the
 * server's CPU per put was 100 µs against 80 inline (BENCHMARKS.md, "Durable writes (round 7)"). With
 * `sync: "process"` nothing changes: no fsync.
 */
export class BackgroundSyncSqliteStorage implements Storage {
  readonly durable = true;
  readonly writesInFlight = 1;
  /**
   * After a commit whose fsync ran in the pool (a slow disk: an inline write returns no promise and
   * never gathers), the next batch waits for the clients just answered, at most twice the commit
   * (CommitPipeline, "Gathering"), so that 16 busy clients share one fsync instead of two groups
   * taking turns. An fsync costs CPU in the thread that calls it too (160-290 µs a round on this
   * VM's disk), so fewer fsyncs per operation are less CPU per operation: 16 clients on the real
   * disk at a load of 2-5, 8 alternating passes against main, puts 8.0 -> 13.3 a commit, server CPU
   * per put 54 -> 44 µs, 8,843 -> 9,738 puts/s; lock pairs 3.7 -> 6.5 a commit, 92 -> 73 µs a
   * pair, 6,941 -> 7,722 pairs/s (BENCHMARKS.md, "Gathering on a quieter machine (round 10)"; at a
   * load of 7-13 with 3-15 ms commits it lost puts: "Durable writes (round 8)").
   */
  readonly gatherAnsweredClients = true;
  readonly path: string;
  readonly #storage: SqliteStorage;
  readonly #fsync: Fsync | undefined;
  readonly #fsyncInline: FsyncInline;
  /** Undefined: always in the pool. */
  readonly #placement: FsyncPlacement | undefined;
  /** The WAL file's descriptor, for its fsync; undefined with `sync: "process"`. */
  readonly #wal: number | undefined;
  /** The fsync in flight, if any: close waits for it before it closes the descriptor. */
  #syncing: Promise<void> | undefined;

  constructor(dataDir: string, options: BackgroundSyncOptions = {}) {
    const full = options.sync !== "process";
    // SQLite's NORMAL either way: the fsync that FULL would add is this class's own (write).
    this.#storage = new SqliteStorage(dataDir, { ...options, sync: "process" });
    this.path = this.#storage.path;
    this.#fsyncInline = options.fsyncInline ?? fsyncSync;
    const clock = options.clock ?? systemClock;
    // Always inline: no fsync is ever slow enough to leave the loop.
    this.#placement = options.fsyncIn === "pool" ? undefined : options.fsyncIn === "inline" ? new FsyncPlacement(clock, Infinity) : new FsyncPlacement(clock);
    if (!full) return;
    this.#fsync = options.fsync ?? fsync;
    try {
      // The WAL exists once the connection has read the database in WAL mode (SqliteStorage's integrity
      // check), and stays the same file while it is open: SQLite rewrites it from the start after a
      // checkpoint, and deletes it only when the last connection closes.
      this.#wal = openSync(`${this.path}-wal`, "r+");
      // Its directory entry too, once: a WAL file just made must still be found after a power cut.
      syncDirectory(dirname(this.path));
    } catch (error) {
      this.#storage.close();
      throw new StorageError(`cannot open ${this.path}-wal to fsync it: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  load(): StoredState {
    return this.#storage.load();
  }

  write(batch: Batch): void | Promise<void> {
    this.#storage.write(batch);
    if (this.#wal === undefined || this.#fsync === undefined) return;
    const wal = this.#wal;
    const placement = this.#placement;
    if (placement?.inline()) {
      try {
        placement.timeInline(() => this.#fsyncInline(wal));
      } catch (error) {
        throw this.#fsyncFailed(error);
      }
      return;
    }
    const flush = this.#fsync;
    const synced = new Promise<void>((resolve, reject) => flush(wal, (error) => (error ? reject(this.#fsyncFailed(error)) : resolve())));
    const settled = synced.catch(() => undefined);
    this.#syncing = settled;
    void settled.then(() => {
      if (this.#syncing === settled) this.#syncing = undefined;
    });
    return synced;
  }

  sizeBytes(): number {
    return this.#storage.sizeBytes();
  }

  #fsyncFailed(error: unknown): StorageError {
    return new StorageError(`fsync of ${this.path}-wal failed: ${error instanceof Error ? error.message : String(error)}; nothing after it is acknowledged`, { cause: error });
  }

  async close(): Promise<void> {
    await this.#syncing;
    if (this.#wal !== undefined) closeSync(this.#wal);
    this.#storage.close();
  }
}

function syncDirectory(directory: string): void {
  const fd = openSync(directory, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
