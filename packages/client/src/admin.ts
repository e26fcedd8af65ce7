import type { ResultOf } from "@leasehold/protocol";
import type { Calls } from "./calls.js";

/** Everything the server holds, as the dashboard shows it. */
export type ServerState = ResultOf<"admin.state">;

/** `client.admin`: inspection and intervention. Needs admin rights on servers with authentication. */
export class Admin {
  constructor(readonly calls: Calls) {}

  /** Sessions, leases, locks, semaphores and elections with their holders and queues. */
  state(): Promise<ServerState> {
    return this.calls.call("admin.state", {}).result;
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
