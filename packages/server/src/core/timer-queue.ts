import type { Clock, Timer } from "@leasehold/protocol";

/** What a TimerQueue keeps on each of its items. The fields belong to the queue: only it writes them. */
export interface Scheduled {
  /** When the item is due (clock ms); +Infinity while it is not queued. */
  dueAt: number;
  /** Its place in the queue's heap; -1 while it is not queued. */
  dueIndex: number;
  /** Order among items due at the same time: the order they were scheduled in. */
  dueSeq: number;
}

/**
 * Many due times on one clock timer: a binary min-heap of items by due time, with a single timer
 * armed for the earliest. It stands in for a timer per session or connection (heartbeats, lease
 * deadlines), which costs an idle session a Node Timeout, its callback and a cancel closure each:
 * about half a KiB per timer. An item fires when a timer of its own would have (items due at the
 * same time in the order they were scheduled), and costs three fields and a heap slot.
 */
export class TimerQueue<T extends Scheduled> {
  readonly #heap: T[] = [];
  #seq = 0;
  #timer: Timer | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #running = false;

  constructor(
    readonly clock: Clock,
    /** Called when an item is due; the item has left the queue and may be scheduled again. */
    readonly fire: (item: T) => void,
  ) {}

  get size(): number {
    return this.#heap.length;
  }

  /** Queues the item at `at` (clock ms), or moves it there if it is queued already. */
  scheduleAt(item: T, at: number): void {
    if (item.dueIndex >= 0) this.#remove(item);
    item.dueAt = at;
    item.dueSeq = this.#seq++;
    item.dueIndex = this.#heap.length;
    this.#heap.push(item);
    this.#up(item.dueIndex);
    this.#arm();
  }

  /** Queues the item `delayMs` from now, as `setTimeout` would. */
  schedule(item: T, delayMs: number): void {
    this.scheduleAt(item, this.clock.now() + Math.max(0, delayMs));
  }

  cancel(item: T): void {
    if (item.dueIndex < 0) return;
    this.#remove(item);
    this.#arm();
  }

  /** Drops every item (server shutdown). */
  clear(): void {
    for (const item of this.#heap) this.#reset(item);
    this.#heap.length = 0;
    this.#arm();
  }

  /** Fires every item that is due, earliest first, then re-arms for the next. */
  #run(): void {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#running = true;
    try {
      for (;;) {
        const head = this.#heap[0];
        // Read the time for every item: a callback may take a while, and what became due meanwhile goes too.
        if (head === undefined || head.dueAt > this.clock.now()) break;
        this.#remove(head);
        this.fire(head);
      }
    } finally {
      this.#running = false;
      this.#arm();
    }
  }

  /** Keeps the one timer set for the earliest item (not while items are being fired: #run re-arms after). */
  #arm(): void {
    if (this.#running) return;
    const at = this.#heap[0]?.dueAt ?? Number.POSITIVE_INFINITY;
    if (at === this.#timerAt) return;
    this.#timer?.cancel();
    this.#timer = null;
    this.#timerAt = at;
    if (at !== Number.POSITIVE_INFINITY) this.#timer = this.clock.setTimer(at - this.clock.now(), () => this.#run());
  }

  #remove(item: T): void {
    const heap = this.#heap;
    const index = item.dueIndex;
    const last = heap.pop()!;
    this.#reset(item);
    if (last === item) return;
    heap[index] = last;
    last.dueIndex = index;
    this.#down(index);
    this.#up(last.dueIndex);
  }

  #reset(item: T): void {
    item.dueAt = Number.POSITIVE_INFINITY;
    item.dueIndex = -1;
  }

  #up(index: number): void {
    const heap = this.#heap;
    const item = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!before(item, parent)) break;
      heap[index] = parent;
      parent.dueIndex = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.dueIndex = index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const item = heap[index]!;
    const length = heap.length;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      if (child + 1 < length && before(heap[child + 1]!, heap[child]!)) child++;
      const next = heap[child]!;
      if (!before(next, item)) break;
      heap[index] = next;
      next.dueIndex = index;
      index = child;
    }
    heap[index] = item;
    item.dueIndex = index;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.dueSeq < b.dueSeq);
}
