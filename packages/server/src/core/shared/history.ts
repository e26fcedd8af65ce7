import type { WatchEvent } from "@leasehold/protocol";

/** How much of the recent past the server keeps for watches that start from an earlier revision or fall behind. */
export interface HistoryLimits {
  /** Most change events kept. */
  events: number;
  /** Most bytes of keys and values kept (an estimate of their msgpack size). */
  bytes: number;
}

export const DEFAULT_HISTORY: HistoryLimits = { events: 10_000, bytes: 64 * 1024 * 1024 };

interface Stored {
  readonly event: WatchEvent;
  readonly bytes: number;
}

/** A batch read from the history for one watcher. */
export interface Batch {
  readonly events: WatchEvent[];
  /** The revision to read from next time. */
  readonly next: number;
}

/**
 * The most recent key changes in revision order, in a ring buffer bounded by count and by bytes.
 * Every watcher is a cursor into it, so that a slow watcher costs the server no memory of its own:
 * it falls behind, and once the changes it still needs are evicted, it is dropped.
 */
export class History {
  #ring: (Stored | undefined)[];
  #head = 0;
  #size = 0;
  #bytes = 0;
  /** Every change at or below this revision may have been evicted. */
  #compactedThrough = 0;

  constructor(readonly limits: HistoryLimits) {
    if (!(limits.events >= 1 && limits.bytes >= 1)) throw new RangeError(`history limits must be positive, got ${limits.events} events and ${limits.bytes} bytes`);
    this.#ring = new Array<Stored | undefined>(Math.min(limits.events, 1024));
  }

  get compactedThrough(): number {
    return this.#compactedThrough;
  }

  /** After a restart the history starts empty: nothing at or below `revision` can be replayed. */
  startAfter(revision: number): void {
    this.#compactedThrough = Math.max(this.#compactedThrough, revision);
  }

  get size(): number {
    return this.#size;
  }

  append(event: WatchEvent, bytes: number): void {
    if (this.#size === this.#ring.length && this.#size < this.limits.events) this.#grow();
    while (this.#size > 0 && (this.#size >= this.limits.events || this.#bytes + bytes > this.limits.bytes)) this.#evict();
    this.#ring[(this.#head + this.#size) % this.#ring.length] = { event, bytes };
    this.#size++;
    this.#bytes += bytes;
  }

  /**
   * The events under `prefix` from revision `from` on, at most `maxEvents` of them and about
   * `maxBytes`. `next` moves past every event looked at, matching or not.
   */
  read(from: number, prefix: string, maxEvents: number, maxBytes: number): Batch {
    const events: WatchEvent[] = [];
    let bytes = 0;
    let next = from;
    for (let index = this.#firstAtOrAfter(from); index < this.#size; index++) {
      const stored = this.#at(index);
      if (stored.event.key.startsWith(prefix)) {
        if (events.length >= maxEvents || (events.length > 0 && bytes + stored.bytes > maxBytes)) break;
        events.push(stored.event);
        bytes += stored.bytes;
      }
      next = stored.event.revision + 1;
    }
    return { events, next };
  }

  #at(index: number): Stored {
    return this.#ring[(this.#head + index) % this.#ring.length] as Stored;
  }

  /** Index of the first stored event whose revision is at least `revision` (binary search). */
  #firstAtOrAfter(revision: number): number {
    let low = 0;
    let high = this.#size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#at(middle).event.revision < revision) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #evict(): void {
    const oldest = this.#at(0);
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size--;
    this.#bytes -= oldest.bytes;
    this.#compactedThrough = oldest.event.revision;
  }

  /** The ring starts small and doubles up to its event limit, so an idle server holds little. */
  #grow(): void {
    const larger = new Array<Stored | undefined>(Math.min(this.limits.events, this.#ring.length * 2));
    for (let index = 0; index < this.#size; index++) larger[index] = this.#at(index);
    this.#ring = larger;
    this.#head = 0;
  }
}
