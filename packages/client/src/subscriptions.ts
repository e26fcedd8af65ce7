import { ErrorCode, type ServerMessage } from "@leasehold/protocol";
import { asyncDispose } from "./dispose.js";
import type { Calls } from "./calls.js";
import { CancelledError, ConnectionError, LeaseholdError, LimitExceededError, errorFromCode } from "./errors.js";
import { Feed } from "./feed.js";

/** Pushes that belong to a subscription, by the id of the request that opened it. */
export type SubscriptionPush = Extract<ServerMessage, { type: "watch.events" | "watch.closed" | "election.changed" | "admin.update" }>;

/** The state of a subscription: its open request in flight, open on the server, or finished. */
type State = { state: "opening"; request: number } | { state: "open"; request: number } | { state: "closed" };

/** Open failures that only mean "the connection changed under the request": open again. */
const REOPEN_ON: ReadonlySet<string> = new Set([ErrorCode.OUTCOME_UNKNOWN, ErrorCode.SESSION_EXPIRED]);

/**
 * Watches and observers of one client. The server keeps them only as long as the connection they
 * were opened on, so after every reconnect (resumed or not) each is opened again, from where it left
 * off. Pushes are routed here by request id.
 */
export class Subscriptions {
  readonly #byRequest = new Map<number, Subscription<unknown, unknown>>();

  constructor(
    readonly calls: Calls,
    events: EventTarget,
  ) {
    events.addEventListener("reconnected", () => this.#reopenAll());
    events.addEventListener("expired", () => this.#reopenAll());
    events.addEventListener("closed", () => {
      for (const subscription of this.#all()) subscription.fail(new ConnectionError(ErrorCode.CLIENT_CLOSED, "the client was closed"));
    });
  }

  route(message: SubscriptionPush): void {
    const id = message.type === "election.changed" ? message.observe : message.type === "admin.update" ? message.subscription : message.watch;
    this.#byRequest.get(id)?.receive(id, message);
  }

  /** Called by a subscription when it sends its open request. */
  register(request: number, subscription: Subscription<unknown, unknown>): void {
    this.#byRequest.set(request, subscription);
  }

  forget(request: number): void {
    this.#byRequest.delete(request);
  }

  #all(): Subscription<unknown, unknown>[] {
    return [...new Set(this.#byRequest.values())];
  }

  #reopenAll(): void {
    for (const subscription of this.#all()) subscription.reconnected();
  }
}

/**
 * The common life of a watch or an observer: an AsyncIterable of `Item`s that opens itself on the
 * server, opens again after reconnects, and ends on `close()`, on a server-side close (its code as
 * the error the iterator throws), or when its reader falls `capacity` items behind.
 */
export abstract class Subscription<Item, Opened> implements AsyncIterable<Item> {
  #state: State = { state: "closed" };
  readonly #feed: Feed<Item>;
  readonly #ready: Promise<Opened>;
  #settleReady: { resolve(value: Opened): void; reject(error: Error): void } | undefined;
  /**
   * Pushes that arrived while the open's reply was still settling. The server sends the reply before
   * any push, but a promise settles a tick later than a push is routed: these wait for the reply.
   */
  #early: SubscriptionPush[] = [];

  protected constructor(
    readonly host: Subscriptions,
    capacity: number,
  ) {
    this.#feed = new Feed<Item>(capacity, () => this.close());
    this.#ready = new Promise<Opened>((resolve, reject) => {
      this.#settleReady = { resolve, reject };
    });
    // `ready` is optional to await; its failure is also thrown by the iterator.
    this.#ready.catch(() => {});
  }

  /** Resolves once the server has confirmed the first open: from then on no change is missed. */
  get ready(): Promise<Opened> {
    return this.#ready;
  }

  get closed(): boolean {
    return this.#state.state === "closed";
  }

  [Symbol.asyncIterator](): AsyncIterator<Item> {
    return this.#feed;
  }

  /** `await using watch = client.watch(prefix)` closes the subscription at the end of the block. */
  [asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Stops the subscription; the iterator ends after the items already received. */
  close(): void {
    const state = this.#state;
    this.#finish();
    this.#settleReady?.reject(new CancelledError(ErrorCode.CANCELLED, "closed before the server confirmed it"));
    this.#feed.end();
    if (state.state !== "closed") this.sendClose(state.request);
  }

  /** Sends the request that opens the subscription (again); returns its id and its reply. */
  protected abstract sendOpen(): { id: number; result: Promise<Opened> };
  /** Sends the request that closes the subscription opened by request `request`. */
  protected abstract sendClose(request: number): void;
  /** The open was confirmed with this reply. */
  protected abstract opened(reply: Opened): void;
  /** A push for this subscription arrived (after its open's reply). */
  protected abstract pushed(message: Exclude<SubscriptionPush, { type: "watch.closed" }>): void;

  /** Called by the router with a push for request `request`. */
  receive(request: number, message: SubscriptionPush): void {
    const state = this.#state;
    if (state.state === "closed" || state.request !== request) return;
    if (state.state === "opening") this.#early.push(message);
    else this.#handle(message);
  }

  /** Hands an item to the reader; a reader too far behind ends the subscription with LimitExceededError. */
  protected deliver(item: Item): void {
    if (this.#feed.push(item)) return;
    const state = this.#state;
    this.fail(new LimitExceededError(ErrorCode.WATCH_OVERFLOW, `the reader fell ${this.#feed.capacity} items behind; the subscription was closed`));
    if (state.state !== "closed") this.sendClose(state.request);
  }

  protected start(): void {
    this.#early = [];
    const call = this.sendOpen();
    this.#state = { state: "opening", request: call.id };
    this.host.register(call.id, this);
    call.result.then(
      (reply) => {
        if (this.#state.state !== "opening" || this.#state.request !== call.id) return;
        this.#state = { state: "open", request: call.id };
        this.opened(reply);
        this.#settleReady?.resolve(reply);
        const early = this.#early;
        this.#early = [];
        for (const message of early) this.#handle(message);
      },
      (error: unknown) => {
        if (this.#state.state === "closed" || this.#state.request !== call.id) return;
        if (error instanceof LeaseholdError && REOPEN_ON.has(error.code)) this.#reopen();
        else this.fail(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  /** The connection was replaced: the server dropped the subscription with the old one. */
  reconnected(): void {
    // An open request still in flight is re-sent or settled by the request table; only open ones need reopening.
    if (this.#state.state === "open") this.#reopen();
  }

  /** Ends with an error (after the items already received). */
  fail(error: Error): void {
    this.#finish();
    this.#settleReady?.reject(error);
    this.#feed.end(error);
  }

  #handle(message: SubscriptionPush): void {
    if (this.#state.state === "closed") return;
    if (message.type === "watch.closed") this.fail(errorFromCode(message.code, message.message));
    else this.pushed(message);
  }

  #reopen(): void {
    if (this.#state.state !== "closed") this.host.forget(this.#state.request);
    this.start();
  }

  #finish(): void {
    if (this.#state.state !== "closed") this.host.forget(this.#state.request);
    this.#state = { state: "closed" };
    this.#early = [];
  }
}
