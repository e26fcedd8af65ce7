/**
 * A FIFO queue with O(1) push and removal of any entry by its node: lock waiters leave from
 * the middle when they time out, are cancelled, or their lease ends, and a grant must not cost more
 * with 10,000 waiters than with 10.
 */
export interface QueueNode<T> {
  readonly value: T;
  prev: QueueNode<T> | null;
  next: QueueNode<T> | null;
  queued: boolean;
}

export class WaitQueue<T> {
  #head: QueueNode<T> | null = null;
  #tail: QueueNode<T> | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  peek(): T | undefined {
    return this.#head?.value;
  }

  push(value: T): QueueNode<T> {
    const node: QueueNode<T> = { value, prev: this.#tail, next: null, queued: true };
    if (this.#tail) this.#tail.next = node;
    else this.#head = node;
    this.#tail = node;
    this.#size++;
    return node;
  }

  /** Removes the node if it is still queued; removing twice is harmless. */
  remove(node: QueueNode<T>): void {
    if (!node.queued) return;
    node.queued = false;
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    node.prev = node.next = null;
    this.#size--;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let node = this.#head; node; node = node.next) yield node.value;
  }
}
