import { ErrorCode, FakeClock } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { ANONYMOUS } from "../auth/permissions.js";
import { sessionOwner } from "../auth/session-owner.js";
import { ServerError } from "../errors.js";
import { Coordinator } from "./coordinator.js";
import { FREE_KEPT_MIN } from "./lock-table.js";
import type { Hold, Lease, Session } from "./model.js";
import { resolveOptions } from "../options.js";

/** A coordinator on fake time with one session and its lease, and acquire/release as the handlers call them. */
function setup() {
  const coordinator = new Coordinator(resolveOptions({ clock: new FakeClock(0), limits: { maxLocksPerSession: 100_000 } }));
  const session: Session = coordinator.openSession("test:a", "a", sessionOwner(ANONYMOUS, "test:a"));
  session.outlet = { address: "test:a", bufferedAmount: 0, send: () => undefined, close: () => undefined };
  const lease: Lease = coordinator.grantLease(session, 60_000, true);
  let id = 1;
  function acquire(name: string, limit?: number): Hold {
    const outcome = coordinator.acquire(session, coordinator.locks, { id: id++, name, lease: lease.id, mode: "exclusive", limit, wait: 0, value: undefined });
    if (typeof outcome === "string") throw new Error(`not granted: ${outcome}`);
    return outcome;
  }
  const release = (hold: Hold): boolean => coordinator.release(session, coordinator.locks, hold.entry.name, hold.token);
  return { coordinator, acquire, release };
}

describe("a lock's entry once free (nothing held, queued or delayed)", () => {
  it("is reused by the next acquire of its name, and unseen meanwhile", () => {
    const { coordinator, acquire, release } = setup();
    const first = acquire("a");
    expect(release(first)).toBe(true);
    expect(coordinator.locks.get("a")).toBeUndefined();
    expect([...coordinator.locks.entries()]).toEqual([]);
    expect(coordinator.locks.size).toBe(0);
    expect(coordinator.locks.freeKept).toBe(1);
    const second = acquire("a");
    expect(second.entry).toBe(first.entry);
    expect(second.token).toBeGreaterThan(first.token);
    expect(coordinator.locks.get("a")?.holders.get(second.token)).toBe(second);
    expect(coordinator.locks.size).toBe(1);
    expect(coordinator.locks.freeKept).toBe(0);
    // The first hold's token is gone with it: releasing it again does nothing to the second.
    expect(release(first)).toBe(false);
    expect(coordinator.locks.get("a")?.holders.size).toBe(1);
  });

  it("lets its name be taken up as another kind or limit, as a forgotten name could", () => {
    const { coordinator, acquire, release } = setup();
    release(acquire("s", 3));
    const lock = acquire("s");
    expect(lock.entry.kind).toBe("lock");
    expect(coordinator.locks.get("s")?.kind).toBe("lock");
    release(lock);
    const semaphore = acquire("s", 2);
    expect(semaphore.entry).toMatchObject({ kind: "semaphore", limit: 2 });
    release(semaphore);
    expect(acquire("s", 5).entry).toMatchObject({ kind: "semaphore", limit: 5 });
    // A name in use still refuses another kind.
    expect(() => acquire("s")).toThrow(expect.objectContaining({ code: ErrorCode.MODE_MISMATCH }) as ServerError);
  });

  it("is kept only up to FREE_KEPT_MIN or as many as are in use, so that unused names cost bounded memory", () => {
    const { coordinator, acquire, release } = setup();
    for (let i = 0; i < 3 * FREE_KEPT_MIN; i++) release(acquire(`once-${i}`));
    expect(coordinator.locks.freeKept).toBeLessThanOrEqual(FREE_KEPT_MIN);
    // With more in use, as many free ones may be kept as there are held.
    const held = Array.from({ length: 2 * FREE_KEPT_MIN }, (_, i) => acquire(`held-${i}`));
    for (let i = 0; i < 5 * FREE_KEPT_MIN; i++) release(acquire(`more-${i}`));
    expect(coordinator.locks.freeKept).toBeLessThanOrEqual(held.length);
    expect(coordinator.locks.size).toBe(held.length);
    for (const hold of held) expect(coordinator.locks.get(hold.entry.name)?.holders.get(hold.token)).toBe(hold);
  });
});
