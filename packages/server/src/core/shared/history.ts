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
    if (this.#size === this.#keys.length && this.#size < this.limits.events) this.#grow();
    while (this.#size > 0 && (this.#size >= this.limits.events || this.#bytes + bytes > this.limits.bytes)) this.#evict();
    const slot = (this.#head + this.#size) % this.#keys.length;
    this.#keys[slot] = key;
    if (value === undefined) this.#chunks[slot] = undefined;
    else this.#copyValue(slot, encodeTransient(value));
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

  /** Copies a value's bytes into the current chunk, or a new one once it is full (a value larger than a chunk gets one of its own). */
  #copyValue(slot: number, bytes: Uint8Array): void {
    if (this.#chunkUsed + bytes.length > this.#chunk.length) {
      this.#chunk = new Uint8Array(Math.max(CHUNK_BYTES, bytes.length));
      this.#chunkUsed = 0;
    }
    this.#chunk.set(bytes, this.#chunkUsed);
    this.#chunks[slot] = this.#chunk;
    this.#starts[slot] = this.#chunkUsed;
    this.#lengths[slot] = bytes.length;
    this.#chunkUsed += bytes.length;
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
