import { systemClock, type Clock, type ServerMessage, type Timer } from "@leasehold/protocol";
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
 *
 * Gathering (a store with `gatherAnsweredClients`, one write in flight): when a batch commits, the
 * next one does not go at once with only what arrived meanwhile. It waits until as many answers
 * (replies and errors: requests done) are held as were held then plus those just released (each
 * client answered is expected to send its next request; a push such as a watch event is not an
 * answer and expects nothing), or at most twice the write's round trip (10 ms at most; a bound that
 * runs out with nothing held starts again from the first message held, see `#gatheringRanOut`). Without
 * it, 16 clients in a loop split into two groups that take turns (one in flight, the other
 * arriving just after the next went out), each request waiting for one round trip and most of
 * another; gathered, they share one. A lone client is never kept waiting: its own next request
 * ends the wait. Nothing is released sooner: the wait only decides when the next batch is cut.
 * Measured on the cluster row (BENCHMARKS.md, "Cluster throughput (round 6)").
 */
export class CommitPipeline {
  readonly journal: Journal;
  /** Messages (and closes, see `after`) waiting for the commit of the changes made before them, in order. */
  #held: (() => void)[] = [];
  /** How many of `#held` answer a request (a reply or an error): each such client may ask again at once. */
  #heldAnswers = 0;
  #scheduled = false;
  /** When the commit now scheduled was first asked for (`clock.now()`), or undefined: for the readiness probe. */
  #scheduledAt: number | undefined;
  /** Batches written and not yet released, oldest first, each with the messages held behind it. */
  #inFlight: InFlightBatch[] = [];
  readonly #window: number;
  readonly #gathers: boolean;
  /** After a commit, while the next batch waits for the clients just answered (see "Gathering"). */
  #gathering: Gathering | undefined;
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
    /** Times the commits (for the readiness probe and the gathering's wait). */
    readonly clock: Clock = systemClock,
  ) {
    this.journal = new Journal(storage.durable, () => this.#schedule());
    this.#window = Math.max(1, storage.writesInFlight ?? 1);
    // With more in flight, batches overlap instead.
    this.#gathers = this.#window === 1 && storage.gatherAnsweredClients === true;
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
    return since === Infinity ? 0 : this.clock.now() - since;
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
    if (message.type === "reply" || message.type === "error") this.#heldAnswers++;
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
    if (this.#gathering) {
      const until = this.#gathering.until ?? this.#boundGathering(this.#gathering);
      if (this.#heldAnswers < this.#gathering.answers && this.clock.now() < until) return;
      this.#stopGathering();
    }
    if (this.#inFlight.length >= this.#window || !this.serving()) return;
    const askedAt = this.#scheduledAt ?? this.clock.now();
    this.#scheduledAt = undefined;
    const { revision, nextLeaseId } = this.counters();
    const batch = this.journal.take(revision, nextLeaseId);
    const held = this.#held;
    const answers = this.#heldAnswers;
    this.#held = [];
    this.#heldAnswers = 0;
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
      if (last) {
        last.held.push(...held);
        last.answers += answers;
      } else for (const release of held) release();
      return;
    }
    const entry: InFlightBatch = { held, answers, askedAt, writtenAt: this.clock.now(), written, committed: false };
    this.#inFlight.push(entry);
    written.then(
      () => {
        entry.committed = true;
        const answered = this.#releaseCommitted();
        this.#startGathering(answered, this.clock.now() - entry.writtenAt);
        // What arrived while every slot was taken goes in the next batch.
        if (this.#held.length > 0 || this.journal.dirty) this.flush();
      },
      (error: unknown) => this.fail(error),
    );
  }

  /** Resolves once no write is in flight (for a clean close). */
  async settled(): Promise<void> {
    for (;;) {
      // Nothing more is coming: a batch that waits for answered clients goes now.
      if (this.#gathering) {
        this.#stopGathering();
        this.flush();
      }
      const last = this.#inFlight.at(-1);
      // Once failed (storage, or a cluster leader deposed) nothing waits on a write's outcome any more.
      if (!last || this.#failure) return;
      await last.written.catch(() => undefined);
    }
  }

  /** Stops acknowledging anything: held messages are dropped and `onFailure` is told (once). */
  fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = error instanceof Error ? error : new Error(String(error));
    this.#held = [];
    this.#heldAnswers = 0;
    this.#inFlight = [];
    this.#stopGathering();
    this.onFailure(this.#failure);
  }

  /** Releases, oldest first, the messages of every batch committed with all the batches before it; returns how many answers went. */
  #releaseCommitted(): number {
    let answered = 0;
    for (let oldest = this.#inFlight[0]; oldest?.committed && !this.#failure; oldest = this.#inFlight[0]) {
      this.#inFlight.shift();
      for (const release of oldest.held) release();
      answered += oldest.answers;
    }
    return answered;
  }

  /** After a commit that sent `answered` answers: the next batch waits for their clients (see "Gathering"). */
  #startGathering(answered: number, writeMs: number): void {
    if (!this.#gathers || answered === 0 || this.#failure) return;
    const gathering: Gathering = { answers: this.#heldAnswers + answered, waitMs: Math.min(writeMs * GATHER_SHARE_OF_WRITE, GATHER_MAX_MS), until: undefined, timer: undefined, wentOn: false };
    this.#boundGathering(gathering);
    this.#gathering = gathering;
  }

  /** Starts the wait's bound, `waitMs` from now; returns when it runs out. */
  #boundGathering(gathering: Gathering): number {
    gathering.timer?.cancel();
    gathering.until = this.clock.now() + gathering.waitMs;
    gathering.timer = this.clock.setTimer(gathering.waitMs, () => this.#gatheringRanOut(gathering));
    return gathering.until;
  }

  /**
   * The bound ran out. With nothing held the wait goes on, bounded again from the first message held
   * (`flush`): waiting on delays no one (nothing is there to write), while cutting now made a batch
   * of the first one or few requests that came back, and the rest of the group, a moment behind them,
   * waited for that commit and then had one of their own. A whole group comes back after the bound
   * when its process or this one was descheduled (under load; also, the timers run before the poll
   * that would read requests already there). 16 clients on the real disk at a load of 9-10: about a
   * fifth of the waits ran out, 14-16 % of batches with nothing held, and 13-15 % of batches held 1
   * to 3 answers; with the wait going on 3-4 %, answers per commit 13.0 -> 14.6 (puts) and 13.4 ->
   * 15.1 (lock pairs) (BENCHMARKS.md, "Durable writes (round 11)").
   *
   * It goes on for one more bound only: a group that has not come back by then is not coming (its
   * clients stopped, or went idle), and the next request, whenever it comes, goes at once, as it
   * would with no gathering, rather than waiting out a bound for answers that will not come.
   */
  #gatheringRanOut(gathering: Gathering): void {
    if (this.#held.length === 0 && !this.journal.dirty && !gathering.wentOn) {
      gathering.wentOn = true;
      gathering.until = undefined;
      gathering.timer = this.clock.setTimer(gathering.waitMs, () => {
        if (this.#gathering === gathering) this.#gathering = undefined;
      });
      return;
    }
    this.#gathering = undefined;
    if (this.#held.length > 0 || this.journal.dirty) this.flush();
  }

  #stopGathering(): void {
    this.#gathering?.timer?.cancel();
    this.#gathering = undefined;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Kept if set: a flush put off behind a batch in flight has been waiting since it was first asked for.
    this.#scheduledAt ??= this.clock.now();
    // After the poll phase: every request already read in this turn joins the same transaction.
    this.afterReads(() => this.flush());
  }
}

interface InFlightBatch {
  /** Messages to send once this batch and every one before it have committed. */
  held: (() => void)[];
  /** How many of `held` answer a request (see `#heldAnswers`). */
  answers: number;
  /** When its commit was first asked for (`clock.now()`): for `pendingMs`. */
  askedAt: number;
  /** When it was handed to the store: its round trip sizes the gathering after it. */
  writtenAt: number;
  written: Promise<void>;
  committed: boolean;
}

/** The wait for the clients just answered (see "Gathering"). */
interface Gathering {
  /** How many answers held end the wait. */
  answers: number;
  /** Its bound, ms. */
  waitMs: number;
  /** When the bound runs out (`clock.now()`); undefined once it ran out with nothing held, until something is. */
  until: number | undefined;
  /** The bound's timer; after it ran out with nothing held, the one that ends the wait if nothing comes within one more bound. */
  timer: Timer | undefined;
  /** The bound ran out once with nothing held, and the wait went on (`#gatheringRanOut`). */
  wentOn: boolean;
}

/**
 * The longest wait for answered clients, as a share of the write that just committed and in ms. A
 * client that does not come back (it had nothing more to ask) costs the others this much once; one
 * that comes back after the wait costs a transaction of its own (about 3.3 ms of etcd's CPU and 0.5
 * ms of the leader's, whatever it carries) and a whole extra round trip for itself. Clients answered
 * together come back over a spread that depends on their own CPU, not on etcd's round trip: on the
 * cluster row (16 clients in one process, 2-core machine under load, A/B alternating, 7 rounds)
 * half the round trip ended by its timer in 42 to 60 % of the waits and left 10 to 13 answers a
 * transaction (0.077 to 0.090 transactions per operation), twice the round trip in 1 to 10 % with
 * 15.3 to 15.9 (0.063 to 0.065; 16 in one: 0.0625), lock pairs 1,442 to 1,784 ops/s against 885 to
 * 1,488 (the round trip once: 14 to 15 answers, 0.066 to 0.070). Before that, half had beaten a
 * quarter (0.076 transactions per operation against 0.097) when the round trip was twice as long.
 */
const GATHER_SHARE_OF_WRITE = 2;
const GATHER_MAX_MS = 10;
