/**
 * A bounded queue read as an async iterator, for pushes that arrive before the reader asks for them.
 * It ends cleanly or with an error; either way the reader first gets everything already queued.
 * Meant for one reader (`for await`); several readers share the items between them.
 */
export class Feed<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #head = 0;
  readonly #readers: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void }[] = [];
  #end: { error: Error | undefined } | undefined;

  constructor(
    /** Most items held for a reader that does not keep up. */
    readonly capacity: number,
    /** The reader stopped early (`break` out of `for await`). */
    readonly onReturn: () => void,
  ) {}

  get buffered(): number {
    return this.#items.length - this.#head;
  }

  /** Queues an item. False when the queue is full: the caller ends the feed with an error. */
  push(item: T): boolean {
    if (this.#end) return true;
    const reader = this.#readers.shift();
    if (reader) {
      reader.resolve({ value: item, done: false });
      return true;
    }
    if (this.buffered >= this.capacity) return false;
    this.#items.push(item);
    return true;
  }

  /** No more items; with an error, the reader gets it once the queue is drained. */
  end(error?: Error): void {
    if (this.#end) return;
    this.#end = { error };
    if (this.buffered > 0) return;
    for (const reader of this.#readers.splice(0)) this.#settleEnd(reader);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffered > 0) return Promise.resolve({ value: this.#shift(), done: false });
    return new Promise((resolve, reject) => {
      if (this.#end) this.#settleEnd({ resolve, reject });
      else this.#readers.push({ resolve, reject });
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.onReturn();
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #shift(): T {
    const item = this.#items[this.#head] as T;
    this.#items[this.#head++] = undefined as T;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** The error goes to one reader, once; after it the feed is simply done. */
  #settleEnd(reader: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void }): void {
    const error = this.#end?.error;
    if (error && this.#end) {
      this.#end.error = undefined;
      reader.reject(error);
      return;
    }
    reader.resolve({ value: undefined, done: true });
  }
}
