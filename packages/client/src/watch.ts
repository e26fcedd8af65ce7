import type { ResultOf, WatchEvent } from "@leasehold/protocol";
import { Subscription, type SubscriptionPush, type Subscriptions } from "./subscriptions.js";

export type { WatchEvent };

export interface WatchOptions {
  /** Deliver every change from this revision on (it must still be in the server's history); default: changes from now. */
  fromRevision?: number;
  /** Most events held for a reader that does not keep up before the watch fails with LimitExceededError. Default 10000. */
  bufferSize?: number;
}

/**
 * `client.watch(prefix)`: every change of a key under the prefix, in revision order, each exactly
 * once, also across reconnects (the watch is opened again from the revision after the last one it
 * received). Iterate with `for await`; `close()` ends the iteration. It throws a LimitExceededError
 * when the reader is too slow (WATCH_OVERFLOW, from the server or from the local buffer), and a
 * ConflictError (COMPACTED) when the changes it needs are no longer kept.
 */
export class Watch extends Subscription<WatchEvent, ResultOf<"watch">> {
  /** The revision the watch needs next; undefined until the server tells where "now" is. */
  #next: number | undefined;

  constructor(
    host: Subscriptions,
    readonly prefix: string,
    options: WatchOptions,
  ) {
    super(host, options.bufferSize ?? 10_000);
    this.#next = options.fromRevision;
    this.start();
  }

  /** The revision of the last change received (0 if none yet). */
  get revision(): number {
    return this.#next === undefined ? 0 : this.#next - 1;
  }

  protected sendOpen() {
    return this.host.calls.call("watch", { prefix: this.prefix, fromRevision: this.#next });
  }

  protected sendClose(request: number): void {
    void this.host.calls.call("unwatch", { watch: request }).result.catch(() => {});
  }

  protected opened(reply: ResultOf<"watch">): void {
    if (this.#next === undefined) this.#next = reply.revision + 1;
  }

  protected pushed(message: Exclude<SubscriptionPush, { type: "watch.closed" }>): void {
    if (message.type !== "watch.events") return;
    for (const event of message.events) {
      // A reopened watch may repeat what was received before the reconnect.
      if (this.#next !== undefined && event.revision < this.#next) continue;
      this.#next = event.revision + 1;
      this.deliver(event);
    }
  }
}
