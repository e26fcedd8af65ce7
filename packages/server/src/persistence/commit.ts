import type { ServerMessage } from "@leasehold/protocol";
import { Journal } from "./journal.js";
import { HandedOverError, type Storage } from "./storage.js";

/**
 * Runs a callback once the event loop has read what is already waiting on the sockets. Not
 * `Clock.setTimer(0)`: a 0 ms timer runs in the timers phase, at least 1 ms later, so that every
 * durable reply would wait longer and requests read in the next poll phase would miss the batch.
 */
export type AfterReads = (callback: () => void) => void;

/** Node's check phase, which follows the poll phase that read this turn's frames. */
export const afterThisTurnsReads: AfterReads = (callback) => void setImmediate(callback);

/**
 * Whether this server may still answer from its state. A cluster leader's election (cluster/
 * leadership.ts): past the instant its election lease could have lapsed, another gateway may lead.
 */
export interface ServingAuthority {
  /** Throws, saying why, once this server may no longer answer. */
  check(): void;
}

/** Something that can put a message on the wire right away. */
export interface Sender {
  sendNow(message: ServerMessage): void;
}

/**
 * Group commit. With durable storage every outgoing message waits until the changes made before it
 * are on disk: the changes of all requests handled in one turn of the event loop go into one
 * transaction (one fsync), and only then are their replies and pushes sent. A reply is therefore
 * never sent for a change that a crash could still lose. With in-memory storage messages go at once.
 *
 * A store whose `write` returns a promise (etcd) has up to `storage.writesInFlight` batches in flight
 * (default 1): each turn's changes go out at once while a slot is free, so that their round trips
 * overlap; once every slot is taken, what changes meanwhile collects in the journal and goes in one
 * batch when the oldest settles, so batches grow with the store's latency rather than queueing up.
 * The store keeps batches in order (storage.ts); the messages held behind a batch are released only
 * once it and every batch before it have committed, and a failed batch stops everything: nothing
 * behind it, in the same or a later batch, is ever sent.
 */
export class CommitPipeline {
  readonly journal: Journal;
  /** Messages (and closes, see `after`) waiting for the commit of the changes made before them, in order. */
  #held: (() => void)[] = [];
  #scheduled = false;
  /** When the commit now scheduled was first asked for (performance.now()), or undefined: for the readiness probe. */
  #scheduledAt: number | undefined;
  /** Batches written and not yet released, oldest first, each with the messages held behind it. */
  #inFlight: InFlightBatch[] = [];
  readonly #window: number;
  #failure: Error | undefined;

  constructor(
    readonly storage: Storage,
    /** The counters stored with every batch. */
    readonly counters: () => { revision: number; nextLeaseId: number },
    /** Storage failed: nothing more may be acknowledged. */
    readonly onFailure: (error: Error) => void,
    /** When the commit of this turn's changes runs; tests inject their own. */
    readonly afterReads: AfterReads = afterThisTurnsReads,
    /** Checked before every commit and release of replies (see `serving`). */
    readonly authority?: ServingAuthority,
  ) {
    this.journal = new Journal(storage.durable, () => this.#schedule());
    this.#window = Math.max(1, storage.writesInFlight ?? 1);
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * How long the oldest change or message not yet written has waited, in ms (0 when none waits): a
   * commit that does not run, or a write that does not settle, keeps growing it.
   */
  get pendingMs(): number {
    // A write that never settles is a stuck commit too: counted from when its batch was asked for.
    const since = Math.min(this.#scheduledAt ?? Infinity, this.#inFlight[0]?.askedAt ?? Infinity);
    return since === Infinity ? 0 : performance.now() - since;
  }

  /**
   * False once nothing more may be acknowledged: storage failed, or `authority` (a cluster leader's
   * election) says this server may no longer answer from its state, which stops it at once.
   */
  serving(): boolean {
    if (this.#failure) return false;
    try {
      this.authority?.check();
      return true;
    } catch (error) {
      this.fail(new HandedOverError(error instanceof Error ? error.message : String(error), { cause: error }));
      return false;
    }
  }

  /** True when `send` holds messages until a commit (durable storage); false when it sends them at once. */
  get holdsMessages(): boolean {
    return this.storage.durable;
  }

  send(sender: Sender, message: ServerMessage): void {
    if (!this.storage.durable) {
      sender.sendNow(message);
      return;
    }
    if (this.#failure) return;
    this.#held.push(() => sender.sendNow(message));
    this.#schedule();
  }

  /**
   * Runs `action` once every message held so far has gone out: a connection closed right after an
   * error or a `bye` reply must not close before that message is sent.
   */
  after(action: () => void): void {
    if ((this.#held.length === 0 && this.#inFlight.length === 0) || this.#failure) {
      action();
      return;
    }
    this.#held.push(action);
    this.#schedule();
  }

  /** Commits what changed and releases the messages held behind it (at once while fewer than the window's batches are in flight). */
  flush(): void {
    this.#scheduled = false;
    if (this.#inFlight.length >= this.#window || !this.serving()) return;
    const askedAt = this.#scheduledAt ?? performance.now();
    this.#scheduledAt = undefined;
    const { revision, nextLeaseId } = this.counters();
    const batch = this.journal.take(revision, nextLeaseId);
    const held = this.#held;
    this.#held = [];
    let written: void | Promise<void> = undefined;
    if (batch) {
      try {
        written = this.storage.write(batch);
      } catch (error) {
        this.fail(error);
        return;
      }
    }
    if (!(written instanceof Promise)) {
      // No change of its own (or a store that answers at once): its messages follow the batches in flight.
      const last = this.#inFlight.at(-1);
      if (last) last.held.push(...held);
      else for (const release of held) release();
      return;
    }
    const entry: InFlightBatch = { held, askedAt, written, committed: false };
    this.#inFlight.push(entry);
    written.then(
      () => {
        entry.committed = true;
        this.#releaseCommitted();
        // What arrived while every slot was taken goes in the next batch.
        if (this.#held.length > 0 || this.journal.dirty) this.flush();
      },
      (error: unknown) => this.fail(error),
    );
  }

  /** Resolves once no write is in flight (for a clean close). */
  async settled(): Promise<void> {
    // Once failed (storage, or a cluster leader deposed) nothing waits on a write's outcome any more.
    while (this.#inFlight.length > 0 && !this.#failure) await this.#inFlight.at(-1)?.written.catch(() => undefined);
  }

  /** Stops acknowledging anything: held messages are dropped and `onFailure` is told (once). */
  fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = error instanceof Error ? error : new Error(String(error));
    this.#held = [];
    this.#inFlight = [];
    this.onFailure(this.#failure);
  }

  /** Releases, oldest first, the messages of every batch committed with all the batches before it. */
  #releaseCommitted(): void {
    for (let oldest = this.#inFlight[0]; oldest?.committed && !this.#failure; oldest = this.#inFlight[0]) {
      this.#inFlight.shift();
      for (const release of oldest.held) release();
    }
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Kept if set: a flush put off behind a batch in flight has been waiting since it was first asked for.
    this.#scheduledAt ??= performance.now();
    // After the poll phase: every request already read in this turn joins the same transaction.
    this.afterReads(() => this.flush());
  }
}

interface InFlightBatch {
  /** Messages to send once this batch and every one before it have committed. */
  held: (() => void)[];
  /** When its commit was first asked for (performance.now()): for `pendingMs`. */
  askedAt: number;
  written: Promise<void>;
  committed: boolean;
}
