import type { AdminUpdate, ResultOf } from "@leasehold/protocol";
import type { Calls } from "./calls.js";
import { Subscription, type SubscriptionPush, type Subscriptions } from "./subscriptions.js";

export type { AdminLeaseView, AdminLockView, AdminSessionView, AdminUpdate } from "@leasehold/protocol";

/** Everything the server holds, as the dashboard shows it. */
export type ServerState = ResultOf<"admin.state">;

/** `client.admin`: inspection and intervention. Needs admin rights on servers with authentication. */
export class Admin {
  constructor(
    readonly calls: Calls,
    readonly subscriptions: Subscriptions,
  ) {}

  /** Sessions, leases, locks, semaphores and elections with their holders and queues. */
  state(): Promise<ServerState> {
    return this.calls.call("admin.state", {}).result;
  }

  /**
   * The server's state as it changes: a snapshot first (`reset: true`, then more pushes until one has
   * `synced: true`), then only what changed. Iterate with `for await`; `close()` ends it. After a
   * reconnect it opens again and starts with a new snapshot.
   */
  subscribe(options: { bufferSize?: number } = {}): AdminSubscription {
    return new AdminSubscription(this.subscriptions, options.bufferSize ?? 1_000);
  }

  /** Takes a lock away from its holders (each is told, with reason "revoked") and grants the next waiter. */
  async forceRelease(name: string): Promise<boolean> {
    return (await this.calls.call("admin.release", { name }).result).released;
  }

  /** Ends any session's lease, as if it had expired; its owner is told it was revoked. */
  async revokeLease(id: number): Promise<boolean> {
    return (await this.calls.call("admin.revoke", { lease: id }).result).revoked;
  }
}

/** `client.admin.subscribe()`: the `admin.update` pushes of the admin feed, as an AsyncIterable. */
export class AdminSubscription extends Subscription<AdminUpdate, ResultOf<"admin.subscribe">> {
  constructor(host: Subscriptions, bufferSize: number) {
    super(host, bufferSize);
    this.start();
  }

  protected sendOpen() {
    return this.host.calls.call("admin.subscribe", {});
  }

  protected sendClose(request: number): void {
    void this.host.calls.call("admin.unsubscribe", { subscription: request }).result.catch(() => {});
  }

  protected opened(): void {}

  protected pushed(message: Exclude<SubscriptionPush, { type: "watch.closed" }>): void {
    if (message.type === "admin.update") this.deliver(message);
  }
}
