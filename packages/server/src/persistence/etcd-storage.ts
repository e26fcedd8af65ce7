import { decode, encode } from "@leasehold/protocol";
import { EtcdRequestError, type Compare, type EtcdClient, type KeyValue, type TxnOp } from "../cluster/etcd-client.js";
import { HandedOverError, StorageError, type Batch, type Storage, type StoredState } from "./storage.js";
import { StoredTables, decodeBatch, decodeState, encodeBatch, encodeState } from "./stored-tables.js";

/**
 * The leader's state in etcd, under `prefix`:
 * - `log/<seq>`: one group commit each, written by one transaction guarded by
 *   `create_revision(leaderKey) == epoch`: once the leader's election key is gone (its lease lapsed or
 *   was revoked) no write of it can succeed, however late it arrives; the guard's failure throws
 *   LeaderDeposedError and the server stops that leader. Up to `writesInFlight` entries are in flight
 *   at once, and etcd may apply their transactions in any order (each gRPC call is its own goroutine
 *   on the member, and a follower member forwards proposals to its raft leader), so each entry after
 *   the first this leader writes is also guarded by its predecessor's existence: `log/<seq>` exists
 *   only if `log/<seq - 1>` did when it committed, so the log never has a gap, a load never replays
 *   an entry that follows a missing one, and no token or revision of an entry past a failed one is
 *   ever stored. An entry that reached etcd before its predecessor is refused and sent again once the
 *   predecessor has committed: with 3 in flight on a loaded 2-core machine that was 2 entries in 3
 *   (etcd orders only a request sent after the previous one's answer: etcd-io/etcd#11672). A batch
 *   too big for one etcd request (1.5 MiB by default) is written first as `part/<seq>/<n>` keys,
 *   each guarded the same way, and the log key that names them commits it; parts without their log
 *   key are never read.
 * - `snapshot/manifest` and `snapshot/<seq>/<n>`: the whole state as of log entry `seq`, in chunks
 *   under the request limit. After each snapshot the log entries it covers and the older snapshot's
 *   chunks are deleted in the transaction that switches the manifest (all but `log/<seq>` itself,
 *   the predecessor of the next entry, perhaps already in flight), and etcd's history before it is
 *   compacted, so that etcd's database stays bounded (see the README on defragmentation).
 * - `floor`: a revision that every token handed out afterwards exceeds (`raiseTokenFloor`). `leasehold
 *   restore` and `import` do not need it: they raise the stored revision itself, in the batch that
 *   replaces the state (persistence/token-floor.ts), as they do in SQLite.
 *
 * `load` reads the snapshot and replays the log after it, producing what SqliteStorage's load would
 * for the same batches; every read is at one etcd revision, a consistent view.
 */
export class EtcdStorage implements Storage {
  readonly durable = true;
  readonly #client: EtcdClient;
  readonly #prefix: string;
  readonly #leaderKey: string;
  readonly #epoch: number;
  readonly #chunkBytes: number;
  readonly #snapshotAfterEntries: number;
  readonly #snapshotAfterBytes: number;
  readonly #onSnapshotFailed: ((error: Error) => void) | undefined;
  readonly writesInFlight: number;
  /** Each write is a round trip to etcd's members: worth a short wait for the clients just answered (commit.ts). */
  readonly gatherAnsweredClients = true;
  /** The state as of the last committed batch (`#lastSeq`): what a snapshot writes. */
  #tables = new StoredTables();
  /** The last entry committed with every entry before it. */
  #lastSeq = 0;
  /** The number the next `write` takes. */
  #nextSeq = 1;
  /** The last entry that `load` read: the first write after it has no predecessor of this leader's to wait for. */
  #loadedSeq = 0;
  #snapshotSeq = 0;
  #logEntriesSinceSnapshot = 0;
  #logBytesSinceSnapshot = 0;
  /** Bytes of the last snapshot written or loaded: the log may grow to a share of it before the next. */
  #snapshotBytes = 0;
  #lastLoad: LoadFigures | undefined;
  /** The promise of the last `write`: the next one's predecessor. */
  #tail: Promise<void> = Promise.resolve();
  #snapshotting: Promise<void> | undefined;
  #reorderedWrites = 0;
  #failure: Error | undefined;
  #loaded = false;
  #closed = false;

  constructor(options: EtcdStorageOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix;
    this.#leaderKey = options.leaderKey;
    this.#epoch = options.epoch;
    this.#chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.#snapshotAfterEntries = options.snapshotAfterEntries ?? SNAPSHOT_AFTER_ENTRIES;
    this.#snapshotAfterBytes = options.snapshotAfterBytes ?? SNAPSHOT_AFTER_BYTES;
    this.#onSnapshotFailed = options.onSnapshotFailed;
    this.writesInFlight = options.writesInFlight ?? DEFAULT_WRITES_IN_FLIGHT;
  }

  /** The snapshot and every log entry after it, replayed; the revision raised to the token floor. */
  async load(): Promise<StoredState> {
    const startedAt = performance.now();
    try {
      const manifestRead = await this.#client.get(this.#key("snapshot/manifest"));
      const atRevision = manifestRead.revision;
      const manifest = manifestRead.kv && (decode(manifestRead.kv.value) as Manifest);
      let tables = new StoredTables();
      if (manifest) {
        const chunks = await this.#readNumbered(`snapshot/${seqKey(manifest.seq)}/`, manifest.chunks, atRevision, "the snapshot");
        tables = StoredTables.from(decodeState(chunks));
      }
      const logPrefix = this.#key("log/");
      let lastSeq = manifest?.seq ?? 0;
      let entries = 0;
      let bytes = 0;
      for (const entry of await this.#readAll(logPrefix, atRevision)) {
        const seq = Number(entry.key.slice(logPrefix.length));
        if (seq <= lastSeq) continue;
        // Cannot happen (each entry is guarded by its predecessor's existence); replaying past a gap
        // would resurrect changes whose causes are lost, so nothing is served from such a log.
        if (seq !== lastSeq + 1) throw new StorageError(`the log in etcd under ${this.#prefix} lacks entry ${lastSeq + 1} before entry ${seq}; restore a backup`);
        const batchBytes = await this.#logEntryBytes(seq, entry.value, atRevision);
        tables.apply(decodeBatch(batchBytes));
        lastSeq = seq;
        entries++;
        bytes += batchBytes.length;
      }
      const floorRead = await this.#client.getPrefix(this.#key("floor"), { atRevision, limit: 1 });
      const floor = floorRead.kvs[0] ? Number(decode(floorRead.kvs[0].value)) : 0;
      this.#tables = tables;
      this.#lastSeq = lastSeq;
      this.#nextSeq = lastSeq + 1;
      this.#loadedSeq = lastSeq;
      this.#snapshotSeq = manifest?.seq ?? 0;
      this.#logEntriesSinceSnapshot = entries;
      this.#logBytesSinceSnapshot = bytes;
      this.#snapshotBytes = manifest?.bytes ?? 0;
      this.#loaded = true;
      this.#lastLoad = { ms: performance.now() - startedAt, snapshotBytes: this.#snapshotBytes, logEntries: entries, logBytes: bytes };
      const state = tables.state();
      return { ...state, revision: Math.max(state.revision, floor) };
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw new StorageError(`loading the state from etcd under ${this.#prefix} failed: ${describe(error)}`, { cause: error });
    }
  }

  /**
   * Sends the batch as the next log entry at once, beside the writes still in flight; resolves once
   * it and every earlier entry have committed, rejects if it or any earlier entry failed.
   */
  write(batch: Batch): Promise<void> {
    const seq = this.#nextSeq++;
    const done = this.#writeInOrder(seq, batch, this.#tail);
    this.#tail = done.catch(() => undefined);
    return done;
  }

  /**
   * Writes a snapshot of the state as of the last write, then deletes the log it covers and compacts
   * etcd's history. Runs by itself after enough log; callable (by tests, or before a planned
   * failover) to take one now. Resolves when done.
   */
  async snapshot(): Promise<void> {
    if (!this.#snapshotting) {
      this.#snapshotting = this.#takeSnapshot().finally(() => (this.#snapshotting = undefined));
    }
    return this.#snapshotting;
  }

  /** What the last `load` read and how long it took (logged by a new leader; printed by the failover bench). */
  get lastLoad(): LoadFigures | undefined {
    return this.#lastLoad;
  }

  /** Log entries that reached etcd before their predecessor and were sent again after it (for tests and measurements). */
  get reorderedWrites(): number {
    return this.#reorderedWrites;
  }

  /** Raises the token floor to `revision` (never lowers it). Guarded like a write. */
  async raiseTokenFloor(revision: number): Promise<void> {
    const key = this.#key("floor");
    const current = await this.#client.get(key);
    const floor = current.kv ? Number(decode(current.kv.value)) : 0;
    if (revision <= floor) return;
    await this.#guarded([{ op: "put", key, value: encode(revision) }]);
  }

  /**
   * Resolves once the write in flight has settled. A write whose outcome is unknown is not sent
   * again after close: a leader closes its store when it steps down, and waiting for every attempt
   * (4 write timeouts with etcd's quorum lost) kept it from relaying as a follower meanwhile.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#tail;
    await this.#snapshotting?.catch(() => undefined);
  }

  async #writeInOrder(seq: number, batch: Batch, previous: Promise<void>): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (!this.#loaded) throw new StorageError("EtcdStorage.write before load(): a leader loads the state before it commits anything");
    const bytes = encodeBatch(batch);
    // Settles once the predecessor has committed (or failed): the failure is #failure by then.
    const predecessor = previous.then(() => {
      if (this.#failure) throw this.#failure;
    });
    predecessor.catch(() => undefined);
    try {
      const logKey = this.#key(`log/${seqKey(seq)}`);
      let value: Uint8Array = entryOf({ batch: bytes });
      if (bytes.length > this.#chunkBytes) {
        const parts = chunk(bytes, this.#chunkBytes);
        for (const [index, part] of parts.entries()) await this.#guarded([{ op: "put", key: this.#key(`part/${seqKey(seq)}/${seqKey(index)}`), value: part }]);
        value = entryOf({ parts: parts.length });
      }
      const predecessorKey = seq > this.#loadedSeq + 1 ? this.#key(`log/${seqKey(seq - 1)}`) : undefined;
      await this.#commitLogEntry(logKey, value, predecessorKey, predecessor);
      // Acknowledged in order: not before every earlier entry has committed.
      await predecessor;
    } catch (error) {
      this.#failure ??= error instanceof StorageError ? error : new StorageError(`writing to etcd under ${this.#prefix} failed: ${describe(error)}`, { cause: error });
      throw this.#failure;
    }
    this.#lastSeq = seq;
    this.#tables.apply(batch);
    this.#logEntriesSinceSnapshot++;
    this.#logBytesSinceSnapshot += bytes.length;
    this.#snapshotIfLogLong();
  }

  /**
   * Starts a snapshot once the log since the last one is long enough that replaying it would slow a
   * failover: after `snapshotAfterEntries` entries or `snapshotAfterBytes` bytes, but not before the
   * log is a quarter of the snapshot's size, so that a large state is not rewritten every few
   * seconds: snapshots then write at most 4 bytes per byte of log, and the replay stays small
   * beside the snapshot a load reads anyway.
   */
  #snapshotIfLogLong(): void {
    const long = this.#logEntriesSinceSnapshot >= this.#snapshotAfterEntries || this.#logBytesSinceSnapshot >= this.#snapshotAfterBytes;
    if (!long || this.#logBytesSinceSnapshot * 4 < this.#snapshotBytes) return;
    // A failed snapshot leaves the previous one and a longer log: the next write tries again.
    void this.snapshot().catch((error: unknown) => this.#onSnapshotFailed?.(error instanceof Error ? error : new Error(String(error))));
  }

  /**
   * Commits one log entry. The transaction also requires that the key is new, which makes it safe
   * to send again when an attempt's outcome is unknown (a member died with it in flight): a second
   * attempt either commits or finds the first one's entry, byte for byte. With `predecessorKey` it
   * also requires that entry to exist; refused only for its lack, it is sent again once `predecessor`
   * (that entry's own write) has committed, and fails with it.
   */
  async #commitLogEntry(key: string, value: Uint8Array, predecessorKey: string | undefined, predecessor: Promise<void>): Promise<void> {
    const compare: Compare[] = [
      { key: this.#leaderKey, createRevision: this.#epoch },
      { key, createRevision: 0 },
      ...(predecessorKey === undefined ? [] : [{ key: predecessorKey, exists: true as const }]),
    ];
    const reads: TxnOp[] = [{ op: "get", key: this.#leaderKey }, { op: "get", key }, ...(predecessorKey === undefined ? [] : [{ op: "get" as const, key: predecessorKey }])];
    for (let waitedForPredecessor = false; ; waitedForPredecessor = true) {
      const result = await this.#sendAgainIfUnknown(() => this.#client.txn(compare, [{ op: "put", key, value }], reads));
      if (result.succeeded) return;
      const leader = result.ranges[0]?.[0];
      if (leader?.createRevision !== this.#epoch) throw this.#deposed(leader);
      const existing = result.ranges[1]?.[0];
      if (existing && Buffer.from(value).equals(existing.value)) return;
      if (existing) throw new StorageError(`log entry ${key} already exists with other contents: two writers under ${this.#prefix}? Stop every gateway and check the configuration`);
      if (waitedForPredecessor) throw new StorageError(`log entry ${predecessorKey ?? "?"} is missing after it committed: was the data under ${this.#prefix} changed by hand? Restore a backup`);
      this.#reorderedWrites++;
      await predecessor;
    }
  }

  /**
   * A transaction of puts and deletes under the leader's guard; returns its revision. They are
   * idempotent (the same bytes put again, ranges deleted again), so an attempt whose outcome is
   * unknown is sent again.
   */
  async #guarded(ops: TxnOp[]): Promise<number> {
    const result = await this.#sendAgainIfUnknown(() => this.#client.txn([{ key: this.#leaderKey, createRevision: this.#epoch }], ops, [{ op: "get", key: this.#leaderKey }]));
    if (!result.succeeded) throw this.#deposed(result.ranges[0]?.[0]);
    return result.revision;
  }

  /** Sends an idempotent request again while its outcome is unknown (its member died with it in flight), unless the store was closed meanwhile. */
  async #sendAgainIfUnknown<T>(send: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        if (!(error instanceof EtcdRequestError && error.outcomeUnknown) || attempt >= WRITE_ATTEMPTS || this.#closed) throw error;
      }
    }
  }

  async #takeSnapshot(): Promise<void> {
    // The state as of the last write, taken now: later writes go on while the chunks are written.
    const seq = this.#lastSeq;
    if (seq === this.#snapshotSeq) return;
    const bytes = encodeState(this.#tables.state());
    const entriesCovered = this.#logEntriesSinceSnapshot;
    const bytesCovered = this.#logBytesSinceSnapshot;
    const chunks = chunk(bytes, this.#chunkBytes);
    const chunkPrefix = `snapshot/${seqKey(seq)}/`;
    try {
      for (const [index, part] of chunks.entries()) await this.#guarded([{ op: "put", key: this.#key(`${chunkPrefix}${seqKey(index)}`), value: part }]);
      const next = seqKey(seq + 1);
      const switchedAt = await this.#guarded([
        { op: "put", key: this.#key("snapshot/manifest"), value: encode({ seq, chunks: chunks.length, bytes: bytes.length } satisfies Manifest) },
        // Older snapshots (and chunks a dead leader left half-written) sort before this one.
        { op: "deleteRange", key: this.#key("snapshot/0"), end: this.#key(chunkPrefix) },
        // Not log/<seq> itself: the next entry, perhaps in flight now, is guarded by its existence.
        { op: "deleteRange", key: this.#key("log/"), end: this.#key(`log/${seqKey(seq)}`) },
        { op: "deleteRange", key: this.#key("part/"), end: this.#key(`part/${next}`) },
      ]);
      this.#snapshotSeq = seq;
      this.#snapshotBytes = bytes.length;
      this.#logEntriesSinceSnapshot -= entriesCovered;
      this.#logBytesSinceSnapshot -= bytesCovered;
      // Compaction only frees space inside etcd's file for reuse; giving it back needs a defragmentation.
      await this.#client.compact(switchedAt);
    } catch (error) {
      if (error instanceof LeaderDeposedError) this.#failure ??= error;
      throw error;
    }
  }

  /** Every key under `prefix` as of `atRevision`, in pages that stay under etcd3's answer limit. */
  async #readAll(prefix: string, atRevision: number): Promise<KeyValue[]> {
    const all: KeyValue[] = [];
    const pageSize = Math.max(1, Math.floor(PAGE_BYTES / Math.max(this.#chunkBytes, 1)));
    for (;;) {
      const page = await this.#client.getPrefix(prefix, { atRevision, limit: pageSize, after: all.at(-1)?.key });
      all.push(...page.kvs);
      if (page.kvs.length < pageSize) return all;
    }
  }

  async #logEntryBytes(seq: number, value: Buffer, atRevision: number): Promise<Uint8Array> {
    const entry = decode(value) as LogEntry;
    if ("batch" in entry) return entry.batch;
    return this.#readNumbered(`part/${seqKey(seq)}/`, entry.parts, atRevision, `log entry ${seq}`);
  }

  /**
   * The pieces 0..count-1 under `prefix`, joined. Pieces numbered past `count` are ignored: a leader
   * that died while writing a larger snapshot or batch under the same number left them there.
   */
  async #readNumbered(prefix: string, count: number, atRevision: number, what: string): Promise<Buffer> {
    const pieces = (await this.#readAll(this.#key(prefix), atRevision)).slice(0, count);
    const complete = pieces.length === count && pieces.every((piece, index) => piece.key === this.#key(`${prefix}${seqKey(index)}`));
    if (!complete) throw new StorageError(`${what} in etcd under ${this.#prefix} lacks some of its ${count} pieces; restore a backup`);
    return Buffer.concat(pieces.map((piece) => piece.value));
  }

  #deposed(leader: KeyValue | undefined): LeaderDeposedError {
    return new LeaderDeposedError(
      leader
        ? `the election key ${this.#leaderKey} was created again (revision ${leader.createRevision}, this leader's epoch ${this.#epoch})`
        : `the election key ${this.#leaderKey} is gone (its lease lapsed or was revoked)`,
    );
  }

  #key(suffix: string): string {
    return `${this.#prefix}${suffix}`;
  }
}

export interface EtcdStorageOptions {
  client: EtcdClient;
  /** Where the data lives, e.g. `/leasehold/data/`; nothing else may write under it. */
  prefix: string;
  /** The leader's election key and its create revision (its term, from Leadership). */
  leaderKey: string;
  epoch: number;
  /** Largest value of one request: default 1 MiB, under etcd's 1.5 MiB request limit with room for the request itself. */
  chunkBytes?: number;
  /**
   * A snapshot after this many log entries (default 1,000) or bytes of log (default 1 MiB), whichever
   * comes first, once the log is also a quarter of the last snapshot's size.
   */
  snapshotAfterEntries?: number;
  snapshotAfterBytes?: number;
  /**
   * Log entries in flight at once (default 1): their round trips to etcd overlap, and etcd puts
   * concurrent proposals in one raft append and WAL fsync. Not more by default: measured on this
   * 2-core machine, 3 in flight gave half the lock pairs per second of 1 (BENCHMARKS.md §8).
   */
  writesInFlight?: number;
  /** Told when a snapshot taken by itself failed (to log it); a deposed leader's next write fails anyway. */
  onSnapshotFailed?: (error: Error) => void;
}

/** What one `load` read from etcd, and how long it took. */
export interface LoadFigures {
  ms: number;
  snapshotBytes: number;
  /** Log entries replayed after the snapshot, and their bytes. */
  logEntries: number;
  logBytes: number;
}

/** This leader was replaced: its writes can no longer commit, and it must stop serving at once. */
export class LeaderDeposedError extends HandedOverError {
  constructor(reason: string) {
    super(`this gateway is no longer the leader: ${reason}; it stops serving and its clients reconnect to the new leader`);
    this.name = "LeaderDeposedError";
  }
}

const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** See `writesInFlight`. */
const DEFAULT_WRITES_IN_FLIGHT = 1;
/**
 * A new leader replays the log since the last snapshot before it serves, so the log's length is
 * part of every failover. Measured on this 2-core machine at a load of 15 (3 etcd members, entries
 * of 1 KB): replaying 5,000 entries took 817 to 1,243 ms (158 range requests of 32 entries: a page
 * must stay under the answer limit even if every entry were a full chunk), about 0.2 ms an entry;
 * writing a small state's snapshot took 201 ms, and loading it 7 to 18 ms. So a snapshot costs
 * about what replaying 1,000 entries does: snapshotting every 1,000 entries (or 1 MiB) keeps a
 * replay near 200 ms at the price of one snapshot per 1,000 commits.
 */
const SNAPSHOT_AFTER_ENTRIES = 1_000;
const SNAPSHOT_AFTER_BYTES = 1024 * 1024;
/** Bytes per page of a multi-page read (see MAX_ANSWER_BYTES in etcd-client.ts). */
const PAGE_BYTES = 32 * 1024 * 1024;
/** Attempts at a log entry whose outcome is unknown: one per member of a 3-member cluster, plus one. */
const WRITE_ATTEMPTS = 4;

interface Manifest {
  seq: number;
  chunks: number;
  bytes: number;
}

type LogEntry = { batch: Uint8Array } | { parts: number };

function entryOf(entry: LogEntry): Uint8Array {
  return encode(entry);
}

/** Fixed width, so that key order is numeric order (2^53 has 16 digits). */
function seqKey(seq: number): string {
  return String(seq).padStart(16, "0");
}

function chunk(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) chunks.push(bytes.subarray(offset, offset + size));
  return chunks.length > 0 ? chunks : [bytes];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
