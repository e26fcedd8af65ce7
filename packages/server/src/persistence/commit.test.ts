import { DEFAULT_LIMITS, type ServerMessage } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { Account } from "../core/accounts.js";
import { CommitPipeline } from "./commit.js";
import { emptyState, type Batch } from "./storage.js";

describe("CommitPipeline", () => {
  it("commits one turn's changes in one write, and sends the replies held behind them only after it", () => {
    const writes: Batch[] = [];
    const sent: ServerMessage[] = [];
    const turnEnds: (() => void)[] = [];
    const storage = { durable: true, load: emptyState, write: (batch: Batch) => void writes.push(batch), close: () => {} };
    const commits = new CommitPipeline(storage, () => ({ revision: 7, nextLeaseId: 3 }), () => {}, (callback) => void turnEnds.push(callback));
    const sender = { sendNow: (message: ServerMessage) => void sent.push(message) };
    const owner = new Account("test", DEFAULT_LIMITS);
    commits.journal.counter("a", 1, owner);
    commits.send(sender, { type: "reply", id: 1, result: {} });
    commits.journal.counter("b", 2, owner);
    commits.send(sender, { type: "reply", id: 2, result: {} });
    expect([writes.length, sent.length, turnEnds.length]).toEqual([0, 0, 1]);
    turnEnds.shift()?.();
    expect(writes.map((batch) => [...batch.counters.keys()])).toEqual([["a", "b"]]);
    expect(writes[0]?.revision).toBe(7);
    expect(sent.map((message) => (message.type === "reply" ? message.id : undefined))).toEqual([1, 2]);
  });
});
