import { FakeClock, type ServerMessage } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { ANONYMOUS } from "../auth/permissions.js";
import { sessionOwner } from "../auth/session-owner.js";
import { Coordinator } from "../core/coordinator.js";
import type { Session } from "../core/model.js";
import { resolveOptions } from "../options.js";
import { Journal } from "./journal.js";
import { restore } from "./restore.js";
import type { Batch, StoredState } from "./storage.js";

/** Wall-clock time when the first server ran (any fixed date: only differences count). */
const WALL = Date.UTC(2026, 0, 1);
const WAIT_MS = 5_000;

/**
 * A server queues a wait of WAIT_MS behind a holder and stops; a second server restores what the first
 * stored, `downMs` of wall-clock time later, on its own fake clock (monotonic time starts again at 0).
 */
function restartAfter(downMs: number) {
  const journal = new Journal(true, () => {});
  const before = new Coordinator(resolveOptions({ clock: new FakeClock(0, WALL) }), { changes: journal });
  const open = (coordinator: Coordinator, name: string) => coordinator.openSession(`test:${name}`, name, sessionOwner(ANONYMOUS, `test:${name}`));
  const holder = open(before, "holder");
  const waiter = open(before, "waiter");
  const acquire = (session: Session, id: number, wait: number) =>
    before.acquire(session, before.locks, { id, name: "x", lease: before.grantLease(session, 60_000, false).id, mode: "exclusive", limit: undefined, wait, value: undefined });
  expect(typeof acquire(holder, 1, 0)).toBe("object");
  expect(acquire(waiter, 1, WAIT_MS)).toBe("queued");
  const batch = journal.take(before.revision, before.nextLeaseId);
  if (!batch) throw new Error("the journal recorded nothing");

  const clock = new FakeClock(0, WALL + downMs);
  const after = new Coordinator(resolveOptions({ clock }));
  restore(after, stateOf(batch));
  const sent: ServerMessage[] = [];
  const restored = after.sessions.get(waiter.id);
  if (!restored) throw new Error("the waiter's session was not restored");
  restored.outlet = { address: "test:waiter", bufferedAmount: 0, send: (message) => void sent.push(message), close: () => {} };
  return { clock, sent };
}

describe("restore", () => {
  it("a wait that ran out while the server was down answers at once", () => {
    const { clock, sent } = restartAfter(60_000);
    clock.advance(0);
    expect(sent).toEqual([{ type: "reply", id: 1, result: { acquired: false } }]);
  });

  it("a wait with time left goes on for what was left of it, by the wall clock", () => {
    const { clock, sent } = restartAfter(1_000);
    clock.advance(WAIT_MS - 1_000 - 1);
    expect(sent).toEqual([]);
    clock.advance(1);
    expect(sent).toEqual([{ type: "reply", id: 1, result: { acquired: false } }]);
  });
});

describe("restore of a lock-delay running when the server stopped", () => {
  /**
   * On a first server, an admin takes "ahead" (lock-delay 5 s) and "past" (1 s) from their holders at
   * wall-clock WALL; a second server restores what was stored 2 s later, on its own clock, with a
   * session queued for "ahead".
   */
  function restartDuringDelays() {
    const journal = new Journal(true, () => {});
    const before = new Coordinator(resolveOptions({ clock: new FakeClock(0, WALL) }), { changes: journal });
    const holder = before.openSession("test:holder", "holder", sessionOwner(ANONYMOUS, "test:holder"));
    const lease = before.grantLease(holder, 60_000, false).id;
    const hold = (id: number, name: string, lockDelay: number) =>
      before.acquire(holder, before.locks, { id, name, lease, mode: "exclusive", limit: undefined, wait: 0, value: undefined, lockDelay });
    expect(typeof hold(1, "ahead", 5_000)).toBe("object");
    expect(typeof hold(2, "past", 1_000)).toBe("object");
    expect([before.forceRelease("ahead"), before.forceRelease("past")]).toEqual([true, true]);
    const batch = journal.take(before.revision, before.nextLeaseId);
    if (!batch) throw new Error("the journal recorded nothing");
    const stored = stateOf(batch);
    expect(stored.holds.map((row) => [row.name, row.delayUntil])).toEqual([
      ["ahead", WALL + 5_000],
      ["past", WALL + 1_000],
    ]);

    const clock = new FakeClock(0, WALL + 2_000);
    const afterJournal = new Journal(true, () => {});
    const after = new Coordinator(resolveOptions({ clock }), { changes: afterJournal });
    restore(after, stored);
    const next = after.openSession("test:next", "next", sessionOwner(ANONYMOUS, "test:next"));
    const sent: ServerMessage[] = [];
    next.outlet = { address: "test:next", bufferedAmount: 0, send: (message) => void sent.push(message), close: () => {} };
    const nextLease = after.grantLease(next, 60_000, false).id;
    const acquire = (id: number, name: string, wait: number) =>
      after.acquire(next, after.locks, { id, name, lease: nextLease, mode: "exclusive", limit: undefined, wait, value: undefined });
    /** The rows the second server deleted so far, by name. */
    const deleted = () => {
      const rows = afterJournal.take(after.revision, after.nextLeaseId)?.holds ?? new Map();
      return [...rows].filter(([, row]) => row === null).map(([key]) => stored.holds.find((row) => `${row.table}:${row.token}` === key)?.name);
    };
    return { clock, sent, acquire, deleted };
  }

  it("a delay still ahead runs for the time left by the wall clock: the waiter is granted exactly at its end, not before", () => {
    const { clock, sent, acquire, deleted } = restartDuringDelays();
    expect(deleted()).toEqual(["past"]);
    expect(acquire(1, "ahead", 0)).toBe("busy");
    expect(acquire(2, "ahead", 60_000)).toBe("queued");
    clock.advance(2_999);
    expect(sent).toEqual([]);
    clock.advance(1);
    expect(sent).toEqual([{ type: "reply", id: 2, result: { acquired: true, token: expect.any(Number) } }]);
    expect(deleted()).toEqual(["ahead"]);
  });

  it("a delay that ended while the server was down is dropped: the lock is granted at once", () => {
    const { acquire } = restartDuringDelays();
    expect(acquire(1, "past", 0)).toMatchObject({ token: expect.any(Number) });
  });
});

/** What storage would load after this one batch on an empty database. */
function stateOf(batch: Batch): StoredState {
  const rows = <T>(changes: Map<unknown, T | null>): T[] => [...changes.values()].filter((row): row is T => row !== null);
  return {
    revision: batch.revision,
    nextLeaseId: batch.nextLeaseId,
    sessions: rows(batch.sessions),
    leases: rows(batch.leases),
    holds: rows(batch.holds),
    waits: rows(batch.waits),
    keys: rows(batch.keys),
    counters: rows(batch.counters),
  };
}
