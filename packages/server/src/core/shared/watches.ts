import { ErrorCode, type Clock, type Value } from "@leasehold/protocol";
import { ServerError } from "../../errors.js";
import { DEFAULT_HISTORY, History, type HistoryLimits } from "./history.js";
import type { Session } from "../model.js";
import { BackPressure, type BackPressureOptions } from "./back-pressure.js";

/** Tuning of watches: how much history is kept, and when a watcher counts as slow. */
export interface WatchOptions extends BackPressureOptions {
  history: HistoryLimits;
}

/** Keep the last 10,000 changes (at most 64 MiB); pause a watcher while its socket holds over 4 MiB. */
export const DEFAULT_WATCH_OPTIONS: WatchOptions = { history: DEFAULT_HISTORY, pauseBytes: 4 * 1024 * 1024, retryMs: 25 };

/** Largest `watch.events` push, so that a catch-up never builds one huge frame. */
const BATCH_EVENTS = 1_000;
const BATCH_BYTES = 256 * 1024;

/**
 * A watch as the server keeps it: a cursor into the history (`next`) and nothing else. It lives as
 * long as the connection it was opened on; the client re-opens it after a reconnect from the last
 * revision it received.
 */
class ServerWatch {
  closed = false;

  constructor(
    readonly hub: Watches,
    readonly session: Session,
    readonly id: number,
    readonly prefix: string,
    /** The next revision this watcher needs; everything below it was sent or did not match. */
    public next: number,
    /** Paused while its socket is backed up; its events wait in the history meanwhile. */
    readonly pace: BackPressure,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pace.stop();
    this.hub.forget(this);
  }
}

/**
 * Every watch of the server and the history they read from. Changes are appended once and each
 * watcher is sent what matches its prefix, in revision order. A watcher whose socket is backed up
 * pauses (its changes stay in the shared history) and catches up when the socket drains; one that
 * falls so far behind that the changes it needs were evicted is dropped with WATCH_OVERFLOW.
 */
export class Watches {
  readonly history: History;
  readonly #watches = new Set<ServerWatch>();

  constructor(
    readonly options: WatchOptions,
    readonly clock: Clock,
    /** A watcher fell too far behind and was dropped with WATCH_OVERFLOW (for metrics and the operator's log). */
    readonly overflowed: (session: Session, prefix: string) => void = () => {},
  ) {
    this.history = new History(options.history);
  }

  /**
   * Opens a watch of `prefix` for request `id`, answers it, then sends the changes from
   * `fromRevision` on (absent: only changes after `current`).
   */
  open(session: Session, id: number, prefix: string, fromRevision: number | undefined, current: number, maxPerSession: number): void {
    if (session.subscriptions.size >= maxPerSession) {
      throw new ServerError(ErrorCode.LIMIT_EXCEEDED, `this session has ${session.subscriptions.size} watches and observers open, the most allowed`);
    }
    const from = Math.max(1, fromRevision ?? current + 1);
    if (from > current + 1) {
      throw new ServerError(ErrorCode.OUT_OF_RANGE, `fromRevision ${from} is ahead of the server's revision ${current}; was the server restarted?`);
    }
    if (from <= this.history.compactedThrough) {
      throw new ServerError(
        ErrorCode.COMPACTED,
        `changes up to revision ${this.history.compactedThrough} are no longer kept; read the keys again and watch from a later revision`,
      );
    }
    const watch: ServerWatch = new ServerWatch(this, session, id, prefix, from, new BackPressure(this.clock, this.options, () => this.#pump(watch)));
    this.#watches.add(watch);
    session.addSubscription(id, watch);
    session.reply<"watch">(id, { watch: id, revision: current });
    this.#pump(watch);
  }

  /** Closes a watch of this session on its request. False if there is none with that id. */
  unwatch(session: Session, id: number): boolean {
    const watch = session.subscriptions.get(id);
    if (!(watch instanceof ServerWatch)) return false;
    watch.close();
    return true;
  }

  /** Records one change (a put of `value`, or a delete when it is undefined) and sends it to every watcher that is keeping up. */
  publish(key: string, value: Value | undefined, revision: number, bytes: number): void {
    this.record(key, value, revision, bytes);
    this.notify();
  }

  /** Records one change of an operation that makes several; `notify` then sends them, in one batch per watcher. */
  record(key: string, value: Value | undefined, revision: number, bytes: number): void {
    this.history.append(key, value, revision, bytes);
  }

  /** As `publish`, for a put whose value the history has staged (History.stage). */
  publishStaged(key: string, revision: number, bytes: number): void {
    this.history.appendStaged(key, revision, bytes);
    this.notify();
  }

  /** Sends every watcher that is keeping up what it has not seen yet. */
  notify(): void {
    // Every put asks: with nobody watching, no iterator of the empty set.
    if (this.#watches.size === 0) return;
    for (const watch of this.#watches) if (!watch.pace.paused) this.#pump(watch);
  }

  /** Called by a closing watch. */
  forget(watch: ServerWatch): void {
    this.#watches.delete(watch);
    watch.session.deleteSubscription(watch.id, watch);
  }

  get size(): number {
    return this.#watches.size;
  }

  /** Sends the watcher what it has not seen yet, for as long as its socket takes it. */
  #pump(watch: ServerWatch): void {
    for (;;) {
      if (watch.closed) return;
      if (watch.next <= this.history.compactedThrough) {
        this.#overflow(watch);
        return;
      }
      const outlet = watch.session.outlet;
      // Without a connection the watch is about to be closed with it; nothing to do.
      if (!outlet) return;
      if (!watch.pace.mayPush(outlet)) return;
      const batch = this.history.read(watch.next, watch.prefix, BATCH_EVENTS, BATCH_BYTES);
      watch.next = Math.max(watch.next, batch.next);
      if (batch.events.length === 0) return;
      watch.session.send({ type: "watch.events", watch: watch.id, events: batch.events });
    }
  }

  #overflow(watch: ServerWatch): void {
    watch.close();
    this.overflowed(watch.session, watch.prefix);
    watch.session.send({
      type: "watch.closed",
      watch: watch.id,
      code: ErrorCode.WATCH_OVERFLOW,
      message: `the watch of "${watch.prefix}" fell further behind than the server keeps history (${this.history.limits.events} changes); read the keys again and watch anew`,
    });
  }
}
