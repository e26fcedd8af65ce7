import { decode, encodeTransient, type Value, type WatchEvent } from "@leasehold/protocol";

/** How much of the recent past the server keeps for watches that start from an earlier revision or fall behind. */
export interface HistoryLimits {
  /** Most change events kept. */
  events: number;
  /** Most bytes of keys and values kept (an estimate of their msgpack size). */
  bytes: number;
}

export const DEFAULT_HISTORY: HistoryLimits = { events: 10_000, bytes: 64 * 1024 * 1024 };

/** Values are copied into chunks of this size: one allocation per few hundred small puts, not one per put. */
const CHUNK_BYTES = 64 * 1024;

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
 *
 * A change is kept as its parts in parallel rings, not as an event object, and a put's value as its
 * msgpack bytes, copied into shared chunks of `CHUNK_BYTES`: every put is recorded whether or not
 * anyone watches, and each change lives through about `limits.events` later ones, long enough to be
 * copied by the young generation's scavenges and promoted to the old one. Kept as objects (an event,
 * its wrapper, the value), they made a put's main-thread GC 2.3 µs against a get's 0.5 in profiles; as
 * bytes, about 1.1 µs. They cost a copy instead, and a watcher's read decodes the values it sends (170 ns
 * for 100 bytes) (BENCHMARKS.md, "Key-value put (round 9)").
 */
export class History {
  #keys: (string | undefined)[];
  /** The chunk holding a put's value; undefined for a delete. */
  #chunks: (Uint8Array | undefined)[];
  /** Where in its chunk a put's value starts, and its length in bytes. */
  #starts: Float64Array;
  #lengths: Float64Array;
  #revisions: Float64Array;
  #sizes: Float64Array;
  /** The chunk values are copied into now, and its first free byte. */
  #chunk: Uint8Array = new Uint8Array(0);
  #chunkUsed = 0;
  #head = 0;
  #size = 0;
  #bytes = 0;
  /** Every change at or below this revision may have been evicted. */
  #compactedThrough = 0;
  /** The length of the value `stage` copied to `#chunkUsed` of `#chunk`, not yet recorded; -1 for none. */
  #staged = -1;

  constructor(readonly limits: HistoryLimits) {
    if (!(limits.events >= 1 && limits.bytes >= 1)) throw new RangeError(`history limits must be positive, got ${limits.events} events and ${limits.bytes} bytes`);
    const capacity = Math.min(limits.events, 1024);
    this.#keys = new Array<string | undefined>(capacity);
    this.#chunks = new Array<Uint8Array | undefined>(capacity);
    this.#starts = new Float64Array(capacity);
    this.#lengths = new Float64Array(capacity);
    this.#revisions = new Float64Array(capacity);
    this.#sizes = new Float64Array(capacity);
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

  /** Records a put of `value` (undefined: a delete) at `revision`, `bytes` its estimated size. */
  append(key: string, value: Value | undefined, revision: number, bytes: number): void {
    if (value !== undefined) this.stage(value);
    this.#record(key, value !== undefined, revision, bytes);
  }

  /**
   * Copies `value`'s msgpack bytes into the history's free space and returns their length, without
   * recording a change: a put sizes its value for the quota with this, before it knows whether it
   * will be done, and then records it with `appendStaged`, so that the value is encoded once per put,
   * not once to size it and again to keep it (BENCHMARKS.md, "The server's JavaScript per request
   * (round 11)"). A put refused in between leaves its bytes unrecorded, for the next value to overwrite.
   */
  stage(value: Value): number {
    const bytes = encodeTransient(value);
    if (this.#chunkUsed + bytes.length > this.#chunk.length) {
      this.#chunk = new Uint8Array(Math.max(CHUNK_BYTES, bytes.length));
      this.#chunkUsed = 0;
    }
    this.#chunk.set(bytes, this.#chunkUsed);
    this.#staged = bytes.length;
    return bytes.length;
  }

  /** Records a put at `revision` of the value staged last (`stage`), `bytes` its estimated size. */
  appendStaged(key: string, revision: number, bytes: number): void {
    this.#record(key, true, revision, bytes);
  }

  #record(key: string, put: boolean, revision: number, bytes: number): void {
    if (put && this.#staged < 0) throw new Error("History: a put recorded without its value staged");
    if (this.#size === this.#keys.length && this.#size < this.limits.events) this.#grow();
    while (this.#size > 0 && (this.#size >= this.limits.events || this.#bytes + bytes > this.limits.bytes)) this.#evict();
    const slot = (this.#head + this.#size) % this.#keys.length;
    this.#keys[slot] = key;
    if (put) this.#keepStaged(slot);
    else this.#chunks[slot] = undefined;
    this.#revisions[slot] = revision;
    this.#sizes[slot] = bytes;
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
      const slot = this.#slot(index);
      const key = this.#keys[slot] as string;
      const revision = this.#revisions[slot] as number;
      if (key.startsWith(prefix)) {
        const size = this.#sizes[slot] as number;
        if (events.length >= maxEvents || (events.length > 0 && bytes + size > maxBytes)) break;
        const chunk = this.#chunks[slot];
        if (chunk === undefined) events.push({ type: "delete", key, revision });
        else {
          const start = this.#starts[slot] as number;
          events.push({ type: "put", key, value: decode(chunk.subarray(start, start + (this.#lengths[slot] as number))) as Value, revision });
        }
        bytes += size;
      }
      next = revision + 1;
    }
    return { events, next };
  }

  /** The staged value's bytes become the slot's: its chunk is taken up to their end (a value larger than a chunk has one of its own). */
  #keepStaged(slot: number): void {
    const length = this.#staged;
    this.#staged = -1;
    this.#chunks[slot] = this.#chunk;
    this.#starts[slot] = this.#chunkUsed;
    this.#lengths[slot] = length;
    this.#chunkUsed += length;
  }

  #slot(index: number): number {
    return (this.#head + index) % this.#keys.length;
  }

  /** Index of the first stored event whose revision is at least `revision` (binary search). */
  #firstAtOrAfter(revision: number): number {
    let low = 0;
    let high = this.#size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#revisions[this.#slot(middle)] as number) < revision) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #evict(): void {
    const head = this.#head;
    this.#keys[head] = undefined;
    this.#chunks[head] = undefined;
    this.#head = (head + 1) % this.#keys.length;
    this.#size--;
    this.#bytes -= this.#sizes[head] as number;
    this.#compactedThrough = this.#revisions[head] as number;
  }

  /** The ring starts small and doubles up to its event limit, so an idle server holds little. */
  #grow(): void {
    const capacity = Math.min(this.limits.events, this.#keys.length * 2);
    const keys = new Array<string | undefined>(capacity);
    const chunks = new Array<Uint8Array | undefined>(capacity);
    const starts = new Float64Array(capacity);
    const lengths = new Float64Array(capacity);
    const revisions = new Float64Array(capacity);
    const sizes = new Float64Array(capacity);
    for (let index = 0; index < this.#size; index++) {
      const slot = this.#slot(index);
      keys[index] = this.#keys[slot];
      chunks[index] = this.#chunks[slot];
      starts[index] = this.#starts[slot] as number;
      lengths[index] = this.#lengths[slot] as number;
      revisions[index] = this.#revisions[slot] as number;
      sizes[index] = this.#sizes[slot] as number;
    }
    this.#keys = keys;
    this.#chunks = chunks;
    this.#starts = starts;
    this.#lengths = lengths;
    this.#revisions = revisions;
    this.#sizes = sizes;
    this.#head = 0;
  }
}
