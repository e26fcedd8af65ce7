import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { batchOperations, SqliteStorage, WRITE_STATEMENTS, writeFailure, type SqliteOptions } from "./sqlite-storage.js";
import { StorageError, type Batch, type Storage, type StoredState } from "./storage.js";

/**
 * The server's SQLite store: SqliteStorage's database, whose batches are written by a thread of their
 * own, so that the event loop goes on reading and handling requests while a commit runs. A commit
 * with `--sync full` ends in an fsync that blocks its thread: 0.9 to 2.6 ms per commit on this VM's
 * disk while other work shared it (27 µs when quiet), against about 0.35 ms of CPU for a commit of
 * 8 puts; on the event loop, every client waited through it. The commit pipeline keeps one batch in
 * flight (`writesInFlight`) and holds every reply behind its batch, as for etcd, so a reply still
 * goes out only after its batch's fsync.
 *
 * Opening, the directory's lock, the integrity check, migrations, `load` and the size for the
 * metrics stay on the calling thread's connection (SqliteStorage); the writer thread opens a second
 * connection to the same database (WAL mode: a writer and a reader never block each other) with the
 * same durability and quota pragmas, and runs the statements `batchOperations` lists for each batch.
 */
export class ThreadedSqliteStorage implements Storage {
  readonly durable = true;
  readonly writesInFlight = 1;
  readonly path: string;
  readonly #storage: SqliteStorage;
  readonly #writer: Worker;
  /** Answers the writer thread owes, oldest first: its start, then one per batch posted. */
  readonly #pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  readonly #started: Promise<void>;
  /** Set once the writer thread is gone: every later write fails with it. */
  #stopped: StorageError | undefined;
  readonly #exited: Promise<void>;

  constructor(dataDir: string, options: SqliteOptions = {}) {
    this.#storage = new SqliteStorage(dataDir, options);
    this.path = this.#storage.path;
    const setup: WriterSetup = {
      driver: createRequire(import.meta.url).resolve("better-sqlite3"),
      path: this.path,
      pragmas: this.#storage.writerPragmas,
      statements: WRITE_STATEMENTS,
      busyTimeoutMs: WRITER_BUSY_TIMEOUT_MS,
    };
    this.#writer = new Worker(WRITER_SOURCE, { eval: true, name: "leasehold sqlite writer", workerData: setup });
    this.#started = this.#answer();
    this.#writer.on("message", (failure: WriterFailure | null) => this.#settle(failure));
    this.#writer.on("error", (error) => this.#stop(new StorageError(`the SQLite writer thread of ${this.path} failed: ${error.message}`, { cause: error })));
    this.#exited = new Promise((resolve) =>
      this.#writer.once("exit", (code) => {
        this.#stop(new StorageError(`the SQLite writer thread of ${this.path} stopped (exit code ${code}); restart the server`));
        resolve();
      }),
    );
  }

  async load(): Promise<StoredState> {
    await this.#started;
    return this.#storage.load();
  }

  write(batch: Batch): Promise<void> {
    const written = this.#answer();
    // Sent: a batch's operations, or null (see close) to end the thread.
    if (!this.#stopped) this.#writer.postMessage(batchOperations(batch));
    return written;
  }

  sizeBytes(): number | undefined {
    return this.#storage.sizeBytes();
  }

  async close(): Promise<void> {
    if (!this.#stopped) {
      // Posted after every batch: the thread ends once they are written, and closes its connection first.
      this.#writer.ref();
      this.#writer.postMessage(null);
    }
    await this.#exited;
    this.#storage.close();
  }

  /** The next answer of the writer thread. The thread keeps the process alive only while an answer is owed. */
  #answer(): Promise<void> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    this.#writer.ref();
    return new Promise((resolve, reject) => this.#pending.push({ resolve, reject }));
  }

  #settle(failure: WriterFailure | null): void {
    const waiting = this.#pending.shift();
    if (this.#pending.length === 0) this.#writer.unref();
    if (!waiting) return;
    if (failure === null) waiting.resolve();
    else if (failure.stage === "open") waiting.reject(new StorageError(`the SQLite writer thread could not open ${this.path}: ${failure.message}`));
    else waiting.reject(writeFailure(this.path, Object.assign(new Error(failure.message), { code: failure.code })));
  }

  #stop(error: StorageError): void {
    this.#stopped ??= error;
    for (const waiting of this.#pending.splice(0)) waiting.reject(this.#stopped);
  }
}

/** What the writer thread is given (`workerData`). */
interface WriterSetup {
  /** better-sqlite3's entry, resolved here: an eval'd thread resolves modules from the working directory. */
  driver: string;
  path: string;
  pragmas: readonly string[];
  statements: readonly string[];
  busyTimeoutMs: number;
}

/**
 * How long a commit waits for another process's write lock on the database before it fails (and the
 * server stops acknowledging). Nothing of this server contends with its writer (its own connection
 * only reads, which WAL mode never makes a writer wait for), and the directory lock keeps other
 * servers out: only an operator's sqlite3 shell writing the file could hold it. Waiting out such a
 * hold is better than stopping; a wait shows as a slow commit in the log and the metrics meanwhile.
 */
const WRITER_BUSY_TIMEOUT_MS = 5_000;

/** The writer thread's answer when something failed; `null` when all went well. */
interface WriterFailure {
  stage: "open" | "write";
  message: string;
  code: string | undefined;
}

/**
 * The writer thread's whole program, plain JavaScript so that it runs the same from the sources (tests)
 * and the build: it answers once when its connection is open, then once per batch, in order. Parameters
 * arrive as the structured clone made them (a Buffer as a Uint8Array, which SQLite binds as a blob alike).
 */
const WRITER_SOURCE = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const failure = (stage, error) => ({ stage, message: String(error && error.message || error), code: error && typeof error.code === "string" ? error.code : undefined });
let db;
let write;
try {
  const Database = require(workerData.driver);
  db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
  for (const pragma of workerData.pragmas) db.pragma(pragma);
  const statements = workerData.statements.map((sql) => db.prepare(sql));
  write = db.transaction((operations) => {
    for (const [statement, ...parameters] of operations) statements[statement].run(...parameters);
  });
  parentPort.postMessage(null);
} catch (error) {
  parentPort.postMessage(failure("open", error));
  if (db) db.close();
  parentPort.close();
}
parentPort.on("message", (operations) => {
  if (operations === null) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    write(operations);
    parentPort.postMessage(null);
  } catch (error) {
    parentPort.postMessage(failure("write", error));
  }
});
`;
