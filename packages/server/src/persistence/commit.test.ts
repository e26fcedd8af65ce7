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

  it("with an asynchronous store: one batch in flight, what changes meanwhile goes in the next, and replies wait for their own batch", async () => {
    const writes: { batch: Batch; done: () => void }[] = [];
    const sent: number[] = [];
    const turnEnds: (() => void)[] = [];
    const storage = {
      durable: true,
      load: emptyState,
      write: (batch: Batch) => new Promise<void>((resolve) => void writes.push({ batch, done: resolve })),
      close: () => {},
    };
    const commits = new CommitPipeline(storage, () => ({ revision: 1, nextLeaseId: 1 }), () => {}, (callback) => void turnEnds.push(callback));
    const sender = { sendNow: (message: ServerMessage) => void sent.push(message.type === "reply" ? message.id : -1) };
    const owner = new Account("test", DEFAULT_LIMITS);
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    commits.journal.counter("a", 1, owner);
    commits.send(sender, { type: "reply", id: 1, result: {} });
    turnEnds.shift()?.();
    expect(writes).toHaveLength(1);
    // While the first batch is in flight: a change and its reply, then a read's reply behind it.
    commits.journal.counter("b", 2, owner);
    commits.send(sender, { type: "reply", id: 2, result: {} });
    commits.send(sender, { type: "reply", id: 3, result: {} });
    turnEnds.shift()?.();
    let closed = false;
    commits.after(() => (closed = true));
    await settle();
    expect([writes.length, sent, closed]).toEqual([1, [], false]);
    writes[0]!.done();
    await settle();
    expect(sent).toEqual([1]);
    expect(writes.map((write) => [...write.batch.counters.keys()])).toEqual([["a"], ["b"]]);
    expect(closed).toBe(false);
    writes[1]!.done();
    await settle();
    expect([sent, closed]).toEqual([[1, 2, 3], true]);
    await commits.settled();
  });

  it("a rejected asynchronous write stops acknowledging: its replies and later ones are never sent", async () => {
    const failures: Error[] = [];
    const sent: ServerMessage[] = [];
    const turnEnds: (() => void)[] = [];
    const storage = { durable: true, load: emptyState, write: () => Promise.reject(new Error("etcd unreachable")), close: () => {} };
    const commits = new CommitPipeline(storage, () => ({ revision: 1, nextLeaseId: 1 }), (error) => void failures.push(error), (callback) => void turnEnds.push(callback));
    const sender = { sendNow: (message: ServerMessage) => void sent.push(message) };
    commits.journal.counter("a", 1, new Account("test", DEFAULT_LIMITS));
    commits.send(sender, { type: "reply", id: 1, result: {} });
    turnEnds.shift()?.();
    await commits.settled();
    commits.send(sender, { type: "reply", id: 2, result: {} });
    expect(failures.map((error) => error.message)).toEqual(["etcd unreachable"]);
    expect(commits.failure?.message).toBe("etcd unreachable");
    expect(sent).toEqual([]);
  });
});
