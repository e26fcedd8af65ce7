import { DEFAULT_LIMITS, FakeClock, type ServerMessage } from "@leasehold/protocol";
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

  it("pendingMs (the readiness probe's stuck commit) counts a commit not yet run and a write in flight, from when it was asked for, until it settles", async () => {
    const clock = new FakeClock(0);
    const writes: (() => void)[] = [];
    const turnEnds: (() => void)[] = [];
    const storage = { durable: true, load: emptyState, write: () => new Promise<void>((resolve) => void writes.push(resolve)), close: () => {} };
    const commits = new CommitPipeline(storage, () => ({ revision: 1, nextLeaseId: 1 }), () => {}, (callback) => void turnEnds.push(callback), undefined, clock);
    const sender = { sendNow: () => {} };
    const owner = new Account("test", DEFAULT_LIMITS);
    expect(commits.pendingMs).toBe(0);
    commits.journal.counter("a", 1, owner);
    commits.send(sender, { type: "reply", id: 1, result: {} });
    clock.advance(100);
    expect(commits.pendingMs).toBe(100);
    turnEnds.shift()?.();
    // The write is in flight and does not settle: still pending, and growing.
    clock.advance(6_000);
    expect(commits.pendingMs).toBe(6_100);
    // A change behind it does not make the wait look younger.
    commits.journal.counter("b", 2, owner);
    commits.send(sender, { type: "reply", id: 2, result: {} });
    turnEnds.shift()?.();
    expect(commits.pendingMs).toBe(6_100);
    writes.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(1);
    // The first batch is written; the second, asked for at 6,100, is in flight now.
    clock.advance(50);
    expect(commits.pendingMs).toBe(50);
    writes.shift()?.();
    await commits.settled();
    expect(commits.pendingMs).toBe(0);
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

  it("with writesInFlight 3: three batches go out at once, the fourth waits for a slot, and replies go in batch order whatever order the writes end in", async () => {
    const { commits, writes, sent, turn, settle } = windowedPipeline(3);
    for (const id of [1, 2, 3, 4]) turn(id);
    // The window is full: the fourth turn's change waits in the journal, its reply behind it.
    expect(writes.map((write) => write.names)).toEqual([["c1"], ["c2"], ["c3"]]);
    writes[2]!.settle();
    writes[1]!.settle();
    await settle();
    expect(sent).toEqual([]);
    writes[0]!.settle();
    await settle();
    expect(sent).toEqual([1, 2, 3]);
    // A slot freed: the fourth turn's change went out.
    expect(writes.map((write) => write.names)).toEqual([["c1"], ["c2"], ["c3"], ["c4"]]);
    // A read's reply (no change of its own) waits behind the batch in flight.
    commits.send(sender(sent), { type: "reply", id: 50, result: {} });
    await settle();
    expect(sent).toEqual([1, 2, 3]);
    writes[3]!.settle();
    await settle();
    expect(sent).toEqual([1, 2, 3, 4, 50]);
    await commits.settled();
  });

  it("with writesInFlight 3: a batch that fails stops everything behind it, even batches that committed after it was sent", async () => {
    const { commits, writes, sent, turn, settle, failures } = windowedPipeline(3);
    for (const id of [1, 2, 3]) turn(id);
    writes[0]!.settle();
    writes[2]!.settle();
    await settle();
    expect(sent).toEqual([1]);
    writes[1]!.fail(new Error("etcd refused entry 2"));
    await settle();
    expect(failures).toEqual(["etcd refused entry 2"]);
    turn(4);
    await settle();
    // Nothing behind the failure is acknowledged, and nothing more is written.
    expect([sent, writes.length]).toEqual([[1], 3]);
    await commits.settled();
  });
});

describe("CommitPipeline gathering (a store with gatherAnsweredClients, one write in flight)", () => {
  it("after a commit, the next batch waits for the clients just answered, and goes once their requests are in", async () => {
    const { commits, writes, sent, turn, settle, clock } = windowedPipeline(1, true);
    turn(1);
    // Client 2's request arrives while client 1's batch is in flight (a 16 ms round trip).
    turn(2);
    clock.advance(16);
    writes[0]!.settle();
    await settle();
    expect(sent).toEqual([1]);
    // Client 1 was just answered: its next request is worth waiting for.
    expect(writes).toHaveLength(1);
    turn(3);
    // Both waiting clients share one round trip (without gathering: c2 alone, then c3 after it).
    expect(writes.map((write) => write.names)).toEqual([["c1"], ["c2", "c3"]]);
    writes[1]!.settle();
    await settle();
    expect(sent).toEqual([1, 2, 3]);
    await commits.settled();
  });

  it("a lone client is not kept waiting: its own next request ends the wait", async () => {
    const { commits, writes, sent, turn, settle, clock } = windowedPipeline(1, true);
    turn(1);
    clock.advance(40);
    writes[0]!.settle();
    await settle();
    turn(2);
    expect(writes.map((write) => write.names)).toEqual([["c1"], ["c2"]]);
    writes[1]!.settle();
    await settle();
    expect(sent).toEqual([1, 2]);
    await commits.settled();
  });

  it("a push (a watch event) answers no request: the batch after it does not wait", async () => {
    const { commits, writes, sent, turn, settle, clock } = windowedPipeline(1, true);
    commits.journal.counter("w", 1, new Account("test", DEFAULT_LIMITS));
    commits.send(sender(sent), { type: "watch.events", watch: 7, events: [] });
    await settle();
    turn(2);
    clock.advance(16);
    writes[0]!.settle();
    await settle();
    expect(writes.map((write) => write.names)).toEqual([["w"], ["c2"]]);
    writes[1]!.settle();
    await settle();
    expect(sent).toEqual([-1, 2]);
    await commits.settled();
  });

  // A write of 4 ms: the wait after it is twice that (a client slower than the round trip itself still
  // joins the batch); a write of 40 ms: the wait is capped at 10 ms.
  it.each([
    { writeMs: 4, waitMs: 8, what: "twice the last write's round trip" },
    { writeMs: 40, waitMs: 10, what: "10 ms, however slow the write" },
  ])("a client that does not come back holds the next batch $what at most", async ({ writeMs, waitMs }) => {
    const { commits, writes, sent, turn, settle, clock } = windowedPipeline(1, true);
    turn(1);
    turn(2);
    clock.advance(writeMs);
    writes[0]!.settle();
    await settle();
    clock.advance(waitMs - 1);
    await settle();
    expect(writes).toHaveLength(1);
    clock.advance(1);
    await settle();
    expect(writes.map((write) => write.names)).toEqual([["c1"], ["c2"]]);
    writes[1]!.settle();
    await settle();
    expect(sent).toEqual([1, 2]);
    await commits.settled();
  });

  it("a wait that runs out with nothing held goes on, bounded again from the first request held", async () => {
    const { commits, writes, sent, turn, settle, clock } = windowedPipeline(1, true);
    turn(1, 2);
    clock.advance(4);
    writes[0]!.settle();
    await settle();
    expect(sent).toEqual([1, 2]);
    // Both clients come back late (their process was descheduled): past the wait of 8 ms, nothing held.
    clock.advance(12);
    await settle();
    turn(3);
    // Not a batch of c3 alone with c4 behind its commit: the two still share one.
    expect(writes).toHaveLength(1);
    clock.advance(7);
    await settle();
    expect(writes).toHaveLength(1);
    turn(4);
    expect(writes.map((write) => write.names)).toEqual([["c1", "c2"], ["c3", "c4"]]);
    clock.advance(4);
    writes[1]!.settle();
    await settle();
    // The bound, counted from the first request held: c6 never comes back, c5 goes 8 ms after it came.
    clock.advance(12);
    await settle();
    turn(5);
    clock.advance(7);
    await settle();
    expect(writes).toHaveLength(2);
    clock.advance(1);
    await settle();
    expect(writes.map((write) => write.names)).toEqual([["c1", "c2"], ["c3", "c4"], ["c5"]]);
    writes[2]!.settle();
    await settle();
    expect(sent).toEqual([1, 2, 3, 4, 5]);
    await commits.settled();
  });

  it("a wait goes on for one more bound only: a request after a longer silence goes at once", async () => {
    const { commits, writes, sent, turn, settle, clock } = windowedPipeline(1, true);
    turn(1, 2);
    clock.advance(4);
    writes[0]!.settle();
    await settle();
    // Neither client comes back within two bounds of 8 ms (they stopped, or went idle): the wait ends.
    clock.advance(16);
    await settle();
    turn(3);
    expect(writes.map((write) => write.names)).toEqual([["c1", "c2"], ["c3"]]);
    writes[1]!.settle();
    await settle();
    expect(sent).toEqual([1, 2, 3]);
    await commits.settled();
  });

  it("settled() does not wait out a gathering: what waits goes at once, and settles", async () => {
    const { commits, writes, sent, turn, settle, clock } = windowedPipeline(1, true);
    turn(1);
    turn(2);
    clock.advance(40);
    writes[0]!.settle();
    await settle();
    let settled = false;
    const done = commits.settled().then(() => (settled = true));
    expect(writes).toHaveLength(2);
    await settle();
    expect(settled).toBe(false);
    writes[1]!.settle();
    await done;
    expect(sent).toEqual([1, 2]);
  });
});

/** A pipeline over a store that keeps each write's promise for the test to settle, in any order; `turn(...ids)` is one turn: for each id a change to counter `c<id>` and reply `id`. */
function windowedPipeline(writesInFlight: number, gatherAnsweredClients = false) {
  const writes: { names: string[]; settle: () => void; fail: (error: Error) => void }[] = [];
  const sent: number[] = [];
  const failures: string[] = [];
  const turnEnds: (() => void)[] = [];
  const storage = {
    durable: true,
    writesInFlight,
    gatherAnsweredClients,
    load: emptyState,
    write: (batch: Batch) => new Promise<void>((resolve, reject) => void writes.push({ names: [...batch.counters.keys()], settle: resolve, fail: reject })),
    close: () => {},
  };
  const clock = new FakeClock(0);
  const commits = new CommitPipeline(storage, () => ({ revision: 1, nextLeaseId: 1 }), (error) => void failures.push(error.message), (callback) => void turnEnds.push(callback), undefined, clock);
  const owner = new Account("test", DEFAULT_LIMITS);
  const turn = (...ids: number[]) => {
    for (const id of ids) {
      commits.journal.counter(`c${id}`, id, owner);
      commits.send(sender(sent), { type: "reply", id, result: {} });
    }
    for (let end = turnEnds.shift(); end; end = turnEnds.shift()) end();
  };
  const settle = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    for (let end = turnEnds.shift(); end; end = turnEnds.shift()) end();
  };
  return { commits, writes, sent, failures, turn, settle, clock };
}

function sender(sent: number[]) {
  return { sendNow: (message: ServerMessage) => void sent.push(message.type === "reply" ? message.id : -1) };
}
