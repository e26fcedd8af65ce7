import { DEFAULT_LIMITS } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { Account } from "../core/accounts.js";
import { CommitPipeline } from "./commit.js";
import { emptyState } from "./storage.js";
import { TimedStorage } from "./timed-storage.js";

describe("TimedStorage", () => {
  it("passes the inner store's writesInFlight through: the server's pipeline keeps that many batches in flight", () => {
    let inFlight = 0;
    const store = { durable: true, writesInFlight: 3, load: emptyState, write: () => (inFlight++, new Promise<void>(() => {})), close: () => {} };
    const turnEnds: (() => void)[] = [];
    const commits = new CommitPipeline(new TimedStorage(store, () => {}), () => ({ revision: 1, nextLeaseId: 1 }), () => {}, (callback) => void turnEnds.push(callback));
    const owner = new Account("test", DEFAULT_LIMITS);
    // Four turns, each with a change: three go out at once, the fourth waits for a slot.
    for (const name of ["a", "b", "c", "d"]) {
      commits.journal.counter(name, 1, owner);
      turnEnds.shift()?.();
    }
    expect(inFlight).toBe(3);
  });
});
