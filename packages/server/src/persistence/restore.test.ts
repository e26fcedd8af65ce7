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
