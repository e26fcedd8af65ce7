/**
 * The requests in flight by id, for `Calls`: a Map, but the newest request lives in a slot of its own
 * until a newer one is made. With one request in flight at a time (a client in a loop, the bench's
 * clients) every request was a `set` and a `delete` on a Map whose ids only grow, and V8 rebuilds such a
 * Map's table every few requests (OrderedHashMap's rehash and shrink, a new FixedArray each time): a
 * set, get and delete cost 66-249 ns against 7-13 ns with the slot (2,000,000 cycles, 3 passes), and the
 * Map's work was about 0.5 % of the bench harness's perf samples under 16 clients of lock pairs or puts.
 *
 * Ids are given in increasing order (`add` is called with a higher id each time), so the Map's insertion
 * order followed by the slot is id order, as `values()` promises.
 */
export class PendingTable<Entry extends { readonly id: number }> {
  readonly #older = new Map<number, Entry>();
  #newest: Entry | undefined;

  /** Adds an entry whose id is higher than every id added before. */
  add(entry: Entry): void {
    if (this.#newest !== undefined) this.#older.set(this.#newest.id, this.#newest);
    this.#newest = entry;
  }

  get(id: number): Entry | undefined {
    return this.#newest?.id === id ? this.#newest : this.#older.get(id);
  }

  /** Removes and returns the entry of `id`, if there is one. */
  take(id: number): Entry | undefined {
    const newest = this.#newest;
    if (newest?.id === id) {
      this.#newest = undefined;
      return newest;
    }
    const entry = this.#older.get(id);
    if (entry !== undefined) this.#older.delete(id);
    return entry;
  }

  /** Every entry, in id order (a copy: the table may change while the caller walks it). */
  values(): Entry[] {
    const all = [...this.#older.values()];
    if (this.#newest !== undefined) all.push(this.#newest);
    return all;
  }

  clear(): void {
    this.#older.clear();
    this.#newest = undefined;
  }
}
