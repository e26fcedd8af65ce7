import { FakeClock, type AdminUpdate, type ServerMessage } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { ADMIN_FLUSH_MS, SLACK_ENTRIES } from "./admin-feed.js";
import { ANONYMOUS } from "../auth/permissions.js";
import { sessionOwner } from "../auth/session-owner.js";
import { Coordinator } from "./coordinator.js";
import type { Outlet } from "./model.js";
import { resolveOptions } from "../options.js";

/** A coordinator on fake time with one admin subscriber whose socket backlog the test sets. */
function setup() {
  const clock = new FakeClock(0);
  const coordinator = new Coordinator(resolveOptions({ clock, watch: { pauseBytes: 1_000 } }));
  const sent: ServerMessage[] = [];
  const admin = coordinator.openSession("test:admin", "dashboard", sessionOwner(ANONYMOUS, "test:admin"));
  const outlet: { -readonly [K in keyof Outlet]: Outlet[K] } = { address: "test:admin", bufferedAmount: 0, send: (message) => void sent.push(message), close: () => {} };
  admin.outlet = outlet;
  const worker = coordinator.openSession("test:worker", "worker", sessionOwner(ANONYMOUS, "test:worker"));
  const lease = coordinator.grantLease(worker, 60_000, false);
  let request = 1;
  const acquire = (name: string, lockDelay?: number) => {
    const outcome = coordinator.acquire(worker, coordinator.locks, { id: request++, name, lease: lease.id, mode: "exclusive", limit: undefined, wait: 0, value: undefined, lockDelay });
    if (typeof outcome !== "object") throw new Error(`"${name}" was not granted`);
    return outcome;
  };
  const updates = () => sent.filter((message): message is AdminUpdate => message.type === "admin.update");
  return { clock, coordinator, admin, outlet, worker, acquire, updates, sent };
}

describe("AdminFeed", () => {
  it("a subscriber whose socket is backed up is paused, remembers at most one name per live thing, and gets a new snapshot once it drains", () => {
    const { clock, coordinator, admin, outlet, acquire, updates } = setup();
    acquire("kept");
    coordinator.adminFeed.open(admin, 99);
    expect(updates()).toHaveLength(1);
    outlet.bufferedAmount = 10_000;

    // More names come and go than the slack allows while nothing can be sent: what is remembered stays bounded.
    for (let index = 0; index < SLACK_ENTRIES + 2_000; index++) {
      const hold = acquire(`churn-${index}`);
      coordinator.release(hold.lease.session, coordinator.locks, hold.entry.name, hold.token);
    }
    clock.advance(ADMIN_FLUSH_MS);
    clock.advance(1_000);
    expect(updates()).toHaveLength(1);
    const subscriber = admin.subscriptions.get(99) as unknown as { pending: number };
    const live = coordinator.sessions.size + coordinator.leases.size + coordinator.locks.size;
    expect(subscriber.pending).toBeLessThanOrEqual(live + SLACK_ENTRIES);

    outlet.bufferedAmount = 0;
    clock.advance(25);
    const after = updates().slice(1);
    expect(after[0]?.reset).toBe(true);
    expect(after.at(-1)?.synced).toBe(true);
    expect(after.flatMap((update) => update.locks.map((lock) => lock.name))).toEqual(["kept"]);
    expect(subscriber.pending).toBe(0);
  });

  it("shows a lock in its lock-delay, with no holder, until the delay ends; then the lock is gone", () => {
    const { clock, coordinator, admin, acquire, updates } = setup();
    acquire("printer", 2_000);
    coordinator.adminFeed.open(admin, 7);
    expect(updates()[0]?.locks).toEqual([expect.objectContaining({ name: "printer", held: 1, delay: undefined })]);

    clock.advance(500);
    expect(coordinator.forceRelease("printer")).toBe(true);
    clock.advance(ADMIN_FLUSH_MS);
    const during = updates().at(-1);
    expect(during?.locks).toEqual([expect.objectContaining({ name: "printer", held: 0, waiting: 0, delay: { count: 1, until: 2_500 } })]);
    expect(during?.now).toBe(500 + ADMIN_FLUSH_MS);

    clock.advance(2_500 - clock.now() - 1);
    expect(updates().at(-1)).toBe(during);
    clock.advance(1 + ADMIN_FLUSH_MS);
    expect(updates().at(-1)?.locksGone).toEqual(["printer"]);
  });

  it("pauses between the pushes of a large snapshot and goes on where it stopped", () => {
    const { clock, coordinator, admin, outlet, acquire, updates } = setup();
    // About 200 of these locks fill a push (32 KiB): 800 make four pushes.
    for (let index = 0; index < 800; index++) acquire(`lock-${"x".repeat(100)}-${index}`);
    const realSend = outlet.send;
    // The socket backs up after the second push.
    outlet.send = (message) => {
      realSend(message);
      if (updates().length === 2) outlet.bufferedAmount = 10_000;
    };
    coordinator.adminFeed.open(admin, 5);
    expect(updates()).toHaveLength(2);
    expect(updates().map((update) => update.synced)).toEqual([false, false]);
    outlet.bufferedAmount = 0;
    clock.advance(25);
    const all = updates();
    expect(all.length).toBeGreaterThan(2);
    expect(all.filter((update) => update.reset)).toHaveLength(1);
    expect(all.at(-1)?.synced).toBe(true);
    expect(new Set(all.flatMap((update) => update.locks.map((lock) => lock.name))).size).toBe(800);
  });
});
