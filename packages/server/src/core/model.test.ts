import { FakeClock } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { ANONYMOUS } from "../auth/permissions.js";
import { sessionOwner } from "../auth/session-owner.js";
import { resolveOptions } from "../options.js";
import { Coordinator } from "./coordinator.js";
import type { Hold } from "./model.js";

function setUp(): { coordinator: Coordinator; acquire: (name: string) => Hold; lease: ReturnType<Coordinator["grantLease"]> } {
  const coordinator = new Coordinator(resolveOptions({ clock: new FakeClock(), limits: { minTtlMs: 100 } }));
  const session = coordinator.openSession("test", undefined, sessionOwner(ANONYMOUS, "test"));
  const lease = coordinator.grantLease(session, 10_000, true);
  let id = 1;
  const acquire = (name: string): Hold => {
    const hold = coordinator.acquire(session, coordinator.locks, { id: id++, name, lease: lease.id, mode: "exclusive", limit: undefined, wait: 0, value: undefined });
    if (typeof hold === "string") throw new Error(`not granted: ${hold}`);
    return hold;
  };
  return { coordinator, acquire, lease };
}

describe("a lease's holds (one in a field, a Set from the second)", () => {
  it("lists its holds in the order they were added and keeps the session's count, one at a time and several at once", () => {
    const { coordinator, acquire, lease } = setUp();
    const session = lease.session;
    expect([...lease.holds]).toEqual([]);
    const a = acquire("a");
    expect([...lease.holds]).toEqual([a]);
    expect(lease.holds.has(a)).toBe(true);
    lease.addHold(a); // added again: counted once
    expect(session.holdCount).toBe(1);
    expect(coordinator.release(session, coordinator.locks, "a", a.token)).toBe(true);
    expect([...lease.holds]).toEqual([]);
    expect(session.holdCount).toBe(0);
    lease.deleteHold(a); // deleted again: nothing to count
    expect(session.holdCount).toBe(0);

    const b = acquire("b");
    const c = acquire("c");
    const d = acquire("d");
    expect([...lease.holds]).toEqual([b, c, d]);
    lease.addHold(c);
    expect(session.holdCount).toBe(3);
    coordinator.release(session, coordinator.locks, "b", b.token);
    expect([...lease.holds]).toEqual([c, d]);
    const e = acquire("e");
    expect([...lease.holds]).toEqual([c, d, e]);
    expect(session.holdCount).toBe(3);
    // Ending the lease gives every hold up, each counted off once.
    coordinator.endLease(lease, "released");
    expect([...lease.holds]).toEqual([]);
    expect(session.holdCount).toBe(0);
    expect(coordinator.locks.size).toBe(0);
  });

  it("gives a single hold up when the lease ends, and a hold never added is not counted off", () => {
    const { coordinator, acquire, lease } = setUp();
    const other = setUp();
    const stranger = other.acquire("x");
    acquire("a");
    lease.deleteHold(stranger);
    expect(lease.session.holdCount).toBe(1);
    coordinator.endLease(lease, "revoked");
    expect([...lease.holds]).toEqual([]);
    expect(lease.session.holdCount).toBe(0);
    expect(coordinator.locks.get("a")).toBeUndefined();
  });
});
