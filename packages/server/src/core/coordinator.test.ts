import { CloseCode, ErrorCode, FakeClock, type Clock, type LockMode, type ServerMessage, type Timer } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { ANONYMOUS } from "../auth/permissions.js";
import { sessionOwner } from "../auth/session-owner.js";
import { Coordinator } from "./coordinator.js";
import type { Lease, Outlet, Session } from "./model.js";
import { resolveOptions, type ServerOptions } from "../options.js";
import { restore } from "../persistence/restore.js";

/** Everything every session was sent, in the order it was sent, across sessions. */
type Entry = { to: string; message: ServerMessage } | { to: string; close: { code: number; reason: string } };

/** A coordinator on fake time, with sessions whose outlets write to one shared log. */
function setup(options: Omit<ServerOptions, "clock"> = {}, clock: Clock = new FakeClock(0)) {
  const coordinator = new Coordinator(resolveOptions({ ...options, clock }));
  const log: Entry[] = [];
  let nextRequest = 1;

  function open(name: string): Session {
    const session = coordinator.openSession(`test:${name}`, name, sessionOwner(ANONYMOUS, `test:${name}`));
    const outlet: Outlet = {
      address: `test:${name}`,
      bufferedAmount: 0,
      send: (message) => void log.push({ to: name, message }),
      close: (code, reason) => void log.push({ to: name, close: { code, reason } }),
    };
    session.outlet = outlet;
    return session;
  }

  /** A request from the client: hearing from it comes first, as on a real connection. */
  function grant(session: Session, ttl: number, keepAlive = true): Lease {
    coordinator.heard(session);
    return coordinator.grantLease(session, ttl, keepAlive);
  }

  function acquire(session: Session, lease: Lease, name: string, wait: true | number = 0, more: { lockDelay?: number; mode?: LockMode; steal?: boolean } = {}) {
    coordinator.heard(session);
    const id = nextRequest++;
    const outcome = coordinator.acquire(session, coordinator.locks, {
      id,
      name,
      lease: lease.id,
      mode: more.mode ?? "exclusive",
      limit: undefined,
      wait,
      value: undefined,
      steal: more.steal,
      lockDelay: more.lockDelay,
    });
    return { id, outcome };
  }

  /** What `name` was sent, in order. */
  function sentTo(name: string): ServerMessage[] {
    return log.flatMap((entry) => (entry.to === name && "message" in entry ? [entry.message] : []));
  }

  /** Position in the log of the first entry matching. */
  function indexOf(predicate: (entry: Entry) => boolean): number {
    return log.findIndex(predicate);
  }

  return { coordinator, log, open, grant, acquire, sentTo, indexOf };
}

function isEnded(entry: Entry, to: string, lease: number): boolean {
  return entry.to === to && "message" in entry && entry.message.type === "lease.ended" && entry.message.lease === lease;
}

function isGrant(entry: Entry, to: string, request: number): boolean {
  return (
    entry.to === to &&
    "message" in entry &&
    entry.message.type === "reply" &&
    entry.message.id === request &&
    entry.message.result.acquired === true
  );
}

function tokenOf(entry: Entry | undefined): number {
  if (!entry || !("message" in entry) || entry.message.type !== "reply") throw new Error(`not a reply: ${JSON.stringify(entry)}`);
  const token = entry.message.result.token;
  if (typeof token !== "number") throw new Error(`reply without a token: ${JSON.stringify(entry.message)}`);
  return token;
}

describe("lease deadlines", () => {
  it("a kept-alive lease expires exactly TTL after the session was last heard, not a millisecond before", () => {
    const clock = new FakeClock(0);
    const { coordinator, open, grant, sentTo } = setup({}, clock);
    const session = open("a");
    clock.advance(400);
    const lease = grant(session, 3_000); // heard at 400
    clock.advance(3_000 - 1);
    expect(lease.ended).toBe(false);
    expect(coordinator.leases.has(lease.id)).toBe(true);
    expect(sentTo("a")).toEqual([]);
    clock.advance(1);
    expect(clock.now()).toBe(400 + 3_000);
    expect(lease.ended).toBe(true);
    expect(coordinator.leases.has(lease.id)).toBe(false);
    expect(session.leases.has(lease.id)).toBe(false);
    expect(sentTo("a")).toEqual([{ type: "lease.ended", lease: lease.id, reason: "expired" }]);
  });

  it("hearing from the client pushes a kept-alive deadline", () => {
    const clock = new FakeClock(0);
    const { coordinator, open, grant, sentTo } = setup({}, clock);
    const session = open("a");
    const lease = grant(session, 3_000);
    for (const at of [1_000, 2_500, 4_000]) {
      clock.advance(at - clock.now());
      coordinator.heard(session);
    }
    clock.advance(4_000 + 3_000 - 1 - clock.now());
    expect(lease.ended).toBe(false);
    expect(coordinator.timeToLive(lease).remaining).toBe(1);
    clock.advance(1);
    expect(lease.ended).toBe(true);
    expect(sentTo("a")).toEqual([{ type: "lease.ended", lease: lease.id, reason: "expired" }]);
  });

  it("a lease without keep-alive expires TTL after its grant or last renew, whatever is heard", () => {
    const clock = new FakeClock(0);
    const { coordinator, open, grant } = setup({}, clock);
    const session = open("a");
    const fixed = grant(session, 2_000, false);
    const renewed = grant(session, 2_000, false);
    const kept = grant(session, 2_000, true);
    clock.advance(1_500);
    coordinator.heard(session);
    coordinator.renewLease(renewed); // renewed at 1500
    clock.advance(499); // 1999
    coordinator.heard(session);
    expect([fixed.ended, renewed.ended, kept.ended]).toEqual([false, false, false]);
    clock.advance(1); // 2000
    expect([fixed.ended, renewed.ended, kept.ended]).toEqual([true, false, false]);
    clock.advance(1_500 + 2_000 - 1 - clock.now()); // 3499
    expect(renewed.ended).toBe(false);
    coordinator.heard(session);
    clock.advance(1); // 3500
    expect(renewed.ended).toBe(true);
    expect(kept.ended).toBe(false); // heard at 3499: lives until 5499
    clock.advance(5_499 - clock.now());
    expect(kept.ended).toBe(true);
  });

  it("a lease found past its deadline before its timer has run is treated as gone", () => {
    const clock = new StalledClock();
    const { coordinator, open, grant, sentTo } = setup({}, clock);
    const session = open("a");
    const lease = grant(session, 1_000);
    clock.time = 1_000; // the deadline timer has not had a chance to run
    expect(() => coordinator.ownLease(session, lease.id)).toThrow(expect.objectContaining({ code: ErrorCode.LEASE_NOT_FOUND }));
    expect(lease.ended).toBe(true);
    expect(sentTo("a")).toEqual([{ type: "lease.ended", lease: lease.id, reason: "expired" }]);
  });
});

describe("locks passed on", () => {
  it("expiry tells the owner (lease.ended) before the next waiter's grant is sent", () => {
    const clock = new FakeClock(0);
    const { open, grant, acquire, indexOf, log } = setup({}, clock);
    const owner = open("owner");
    const waiter = open("waiter");
    const ownerLease = grant(owner, 1_000);
    const waiterLease = grant(waiter, 10_000);
    const held = acquire(owner, ownerLease, "L");
    expect(held.outcome).toMatchObject({ token: expect.any(Number) });
    const queued = acquire(waiter, waiterLease, "L", true);
    expect(queued.outcome).toBe("queued");
    expect(log).toEqual([]);

    clock.advance(1_000);
    const ended = indexOf((entry) => isEnded(entry, "owner", ownerLease.id));
    const granted = indexOf((entry) => isGrant(entry, "waiter", queued.id));
    expect(ended).toBeGreaterThanOrEqual(0);
    expect(granted).toBeGreaterThanOrEqual(0);
    expect(ended).toBeLessThan(granted);
    expect(tokenOf(log[granted])).toBeGreaterThan((held.outcome as { token: number }).token);
  });

  it("grants 6 queued waiters strictly first-in first-out, with growing tokens", () => {
    const clock = new FakeClock(0);
    const { coordinator, open, grant, acquire, log } = setup({}, clock);
    const holder = open("holder");
    const holderLease = grant(holder, 60_000);
    const first = acquire(holder, holderLease, "L");
    if (typeof first.outcome !== "object") throw new Error("the first acquire must be granted");

    // Queue in an order that is neither the order of session creation nor of lease ids.
    const names = ["w3", "w1", "w5", "w0", "w4", "w2"];
    const sessions = new Map(["w0", "w1", "w2", "w3", "w4", "w5"].map((name) => [name, open(name)] as const));
    const leases = new Map([...sessions].map(([name, session]) => [name, grant(session, 60_000)] as const));
    const requests = new Map<string, number>();
    for (const name of names) {
      const queued = acquire(sessions.get(name)!, leases.get(name)!, "L", true);
      expect(queued.outcome).toBe("queued");
      requests.set(name, queued.id);
    }
    // A try while others wait is refused. (Right after a release there is no free moment to jump
    // into: the release grants the head of the queue before it returns, as the loop below checks.)
    expect(acquire(holder, holderLease, "L").outcome).toBe("busy");

    let token = first.outcome.token;
    const order: string[] = [];
    expect(coordinator.release(holder, coordinator.locks, "L", token)).toBe(true);
    for (let i = 0; i < names.length; i++) {
      const grants = log.filter((entry) => "message" in entry && entry.message.type === "reply");
      expect(grants).toHaveLength(i + 1); // one grant per release, never two holders
      const last = grants[i]!;
      order.push(last.to);
      expect(isGrant(last, last.to, requests.get(last.to)!)).toBe(true);
      const next = tokenOf(last);
      expect(next).toBeGreaterThan(token);
      token = next;
      clock.advance(10);
      coordinator.heard(sessions.get(last.to)!);
      expect(coordinator.release(sessions.get(last.to)!, coordinator.locks, "L", token)).toBe(true);
    }
    expect(order).toEqual(names);
    expect(coordinator.locks.get("L")).toBeUndefined(); // idle names are forgotten
  });

  it("re-checks a waiter's lease at grant time: one that expired in the same instant is skipped", () => {
    const clock = new FakeClock(0);
    const { open, grant, acquire, sentTo, indexOf } = setup({}, clock);
    const holder = open("holder");
    const stale = open("stale");
    const next = open("next");
    // The holder's lease and the stale waiter's lease both end at 2000; the holder's timer runs first.
    const holderLease = grant(holder, 2_000);
    const staleLease = grant(stale, 2_000, false);
    const nextLease = grant(next, 10_000);
    acquire(holder, holderLease, "L");
    const staleWait = acquire(stale, staleLease, "L", true);
    const nextWait = acquire(next, nextLease, "L", true);
    expect([staleWait.outcome, nextWait.outcome]).toEqual(["queued", "queued"]);

    clock.advance(2_000);
    expect(sentTo("stale")).toEqual([
      { type: "lease.ended", lease: staleLease.id, reason: "expired" },
      { type: "error", id: staleWait.id, code: ErrorCode.LEASE_NOT_FOUND, message: expect.any(String) },
    ]);
    expect(staleLease.holds.size).toBe(0);
    const granted = indexOf((entry) => isGrant(entry, "next", nextWait.id));
    expect(granted).toBeGreaterThan(indexOf((entry) => isEnded(entry, "stale", staleLease.id)));
    expect(nextLease.holds.size).toBe(1);
  });

  it("re-checks a waiter's lease at grant time after a pause, before any timer has run", () => {
    const clock = new StalledClock();
    const { coordinator, open, grant, acquire, sentTo } = setup({}, clock);
    const holder = open("holder");
    const stale = open("stale");
    const next = open("next");
    const holderLease = grant(holder, 60_000);
    const staleLease = grant(stale, 1_000);
    const held = acquire(holder, holderLease, "L");
    const staleWait = acquire(stale, staleLease, "L", true);
    clock.time = 500;
    const nextLease = grant(next, 60_000);
    const nextWait = acquire(next, nextLease, "L", true);
    if (typeof held.outcome !== "object") throw new Error("the first acquire must be granted");

    clock.time = 5_000; // the stale waiter's deadline (1000) passed while no timer ran
    coordinator.heard(holder);
    expect(coordinator.release(holder, coordinator.locks, "L", held.outcome.token)).toBe(true);

    expect(staleLease.ended).toBe(true);
    expect(staleLease.holds.size).toBe(0);
    expect(sentTo("stale").map((message) => message.type)).toEqual(["lease.ended", "error"]);
    expect(sentTo("next")).toEqual([{ type: "reply", id: nextWait.id, result: { acquired: true, token: expect.any(Number) } }]);
    expect(coordinator.locks.get("L")?.holders.size).toBe(1);
  });

  it("a wait that runs out answers acquired: false and leaves the queue", () => {
    const clock = new FakeClock(0);
    const { coordinator, open, grant, acquire, sentTo } = setup({}, clock);
    const holder = open("holder");
    const waiter = open("waiter");
    acquire(holder, grant(holder, 60_000), "L");
    const waiterLease = grant(waiter, 60_000);
    const wait = acquire(waiter, waiterLease, "L", 700);
    clock.advance(699);
    expect(sentTo("waiter")).toEqual([]);
    clock.advance(1);
    expect(sentTo("waiter")).toEqual([{ type: "reply", id: wait.id, result: { acquired: false } }]);
    expect(waiter.waits.size).toBe(0);
    expect(coordinator.locks.get("L")?.queue.size).toBe(0);
  });

  it("ending a session cleanly passes its locks on at once, without telling it lease.ended", () => {
    const clock = new FakeClock(0);
    const { coordinator, open, grant, acquire, sentTo } = setup({}, clock);
    const leaving = open("leaving");
    const waiter = open("waiter");
    acquire(leaving, grant(leaving, 60_000), "L");
    const wait = acquire(waiter, grant(waiter, 60_000), "L", true);
    coordinator.endSession(leaving, "released");
    expect(sentTo("leaving")).toEqual([]);
    expect(sentTo("waiter")).toEqual([{ type: "reply", id: wait.id, result: { acquired: true, token: expect.any(Number) } }]);
    expect(coordinator.sessions.has(leaving.id)).toBe(false);
  });
});

describe("sessions", () => {
  it("heartbeat interval = min(heartbeatMs, session grace / 3, shortest kept-alive TTL / 4), never below the floor", () => {
    const tight = setup({ heartbeatMs: 5_000, sessionGraceMs: 3_000 });
    // A live client answers every ping; pings must come often enough that it is never dropped as silent.
    expect(tight.coordinator.heartbeatInterval(tight.open("g"))).toBe(1_000);
    const { coordinator, open, grant } = setup({ heartbeatMs: 5_000, sessionGraceMs: 60_000, limits: { minTtlMs: 1 } });
    const session = open("a");
    expect(coordinator.heartbeatInterval(session)).toBe(5_000);
    grant(session, 60_000);
    expect(coordinator.heartbeatInterval(session)).toBe(5_000);
    grant(session, 9_000);
    expect(coordinator.heartbeatInterval(session)).toBe(2_250);
    grant(session, 1_500, false); // not kept alive by heartbeats: no say in their interval
    expect(coordinator.heartbeatInterval(session)).toBe(2_250);
    const short = grant(session, 1_000);
    expect(coordinator.heartbeatInterval(session)).toBe(250);
    coordinator.endLease(short, "released");
    expect(coordinator.heartbeatInterval(session)).toBe(2_250);
    grant(session, 90);
    expect(coordinator.heartbeatInterval(session)).toBe(50); // 22 would flood: the floor is 50
    // Another session's leases do not change this one's interval.
    expect(coordinator.heartbeatInterval(open("b"))).toBe(5_000);
  });

  it("a silent session is dropped after the grace period, not a millisecond before", () => {
    const clock = new FakeClock(0);
    const { coordinator, open, log } = setup({ sessionGraceMs: 10_000 }, clock);
    const session = open("a");
    clock.advance(4_000);
    coordinator.heard(session);
    clock.advance(10_000 - 1);
    expect(coordinator.sessions.has(session.id)).toBe(true);
    expect(session.ended).toBe(false);
    clock.advance(1);
    expect(clock.now()).toBe(14_000);
    expect(session.ended).toBe(true);
    expect(coordinator.sessions.has(session.id)).toBe(false);
    expect(coordinator.findSession(session.id, session.secret)).toBeUndefined();
    expect(log).toEqual([{ to: "a", close: { code: CloseCode.SESSION_EXPIRED, reason: expect.any(String) } }]);
  });

  it("a silent session holding a lease longer than the grace period is kept for that TTL, then dropped", () => {
    const clock = new FakeClock(0);
    const { coordinator, open, grant, log } = setup({ sessionGraceMs: 2_000 }, clock);
    const session = open("a");
    const lease = grant(session, 5_000, false);
    clock.advance(5_000 - 1);
    expect(coordinator.sessions.has(session.id)).toBe(true);
    expect(lease.ended).toBe(false);
    clock.advance(1);
    expect(lease.ended).toBe(true);
    expect(coordinator.sessions.has(session.id)).toBe(false);
    expect(log.map((entry) => ("close" in entry ? `close ${entry.close.code}` : entry.message.type))).toEqual([
      "lease.ended",
      `close ${CloseCode.SESSION_EXPIRED}`,
    ]);
  });

  it("refuses sessions and leases beyond their limits", () => {
    const { coordinator, open, grant } = setup({ limits: { maxSessions: 2, maxLeasesPerSession: 2 } });
    const a = open("a");
    open("b");
    expect(() => open("c")).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
    const first = grant(a, 5_000);
    grant(a, 5_000);
    expect(() => grant(a, 5_000)).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
    coordinator.endLease(first, "released");
    expect(grant(a, 5_000).ended).toBe(false);
  });

  it("counts a session's locks over all of its leases, holds and waits, until each is released or its lease ends", () => {
    const { coordinator, open, grant, acquire } = setup({ limits: { maxLocksPerSession: 3 } });
    const a = open("a");
    const b = open("b");
    const [first, second, third] = [grant(a, 5_000), grant(a, 5_000), grant(a, 5_000)];
    const held = acquire(a, first, "x").outcome;
    acquire(a, second, "y");
    const other = grant(b, 5_000);
    acquire(b, other, "z");
    acquire(a, third, "z", true);
    expect(() => acquire(a, third, "w")).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
    if (typeof held !== "object") throw new Error("x was not granted");
    expect(coordinator.release(a, coordinator.locks, "x", held.token)).toBe(true);
    expect(typeof acquire(a, third, "w").outcome).toBe("object");
    coordinator.endLease(second, "revoked");
    // "z" goes to a once b's hold ends: a wait that became a hold still counts once.
    coordinator.endLease(other, "released");
    expect(a.holdCount).toBe(2);
    expect(typeof acquire(a, first, "v").outcome).toBe("object");
    expect(() => acquire(a, first, "u")).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
  });
});

/** A clock whose timers never run: time jumps as a paused process sees it on waking, before its timers fire. */
class StalledClock implements Clock {
  time = 0;

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.time;
  }

  setTimer(_delayMs: number, _callback: () => void): Timer {
    return { cancel: () => {} };
  }
}

describe("lock-delay", () => {
  /** A holder of "res" with a 1 s lease and the given lock-delay, and a second session queued behind it. */
  function heldWithDelay(lockDelay: number | undefined, options: Omit<ServerOptions, "clock"> = {}) {
    const clock = new FakeClock(0);
    const t = setup(options, clock);
    const holder = t.open("holder");
    const holderLease = t.grant(holder, 1_000);
    const held = t.acquire(holder, holderLease, "res", 0, { lockDelay });
    expect(held.outcome).toMatchObject({ token: expect.any(Number) });
    const next = t.open("next");
    const nextLease = t.grant(next, 60_000);
    const queued = t.acquire(next, nextLease, "res", true);
    expect(queued.outcome).toBe("queued");
    const grantedNext = () => t.indexOf((entry) => isGrant(entry, "next", queued.id)) >= 0;
    /** Keeps `next` heard from, so that only the holder's lease runs out. */
    const pass = (ms: number) => {
      t.coordinator.heard(next);
      clock.advance(ms);
    };
    return { ...t, clock, holder, holderLease, held, next, nextLease, queued, grantedNext, pass };
  }

  it("after the holder's lease expires, the next waiter is granted exactly lockDelay later, not a millisecond before", () => {
    const t = heldWithDelay(500);
    t.pass(1_000); // the holder's lease expires at 1,000
    expect(t.holderLease.ended).toBe(true);
    expect(t.grantedNext()).toBe(false);
    t.pass(499);
    expect(t.grantedNext()).toBe(false);
    t.pass(1);
    expect(t.grantedNext()).toBe(true);
  });

  it("an admin's force-release and lease revoke start the delay too", () => {
    const released = heldWithDelay(300);
    expect(released.coordinator.forceRelease("res")).toBe(true);
    released.pass(299);
    expect(released.grantedNext()).toBe(false);
    released.pass(1);
    expect(released.grantedNext()).toBe(true);

    const revoked = heldWithDelay(300);
    revoked.coordinator.endLease(revoked.holderLease, "revoked");
    revoked.pass(299);
    expect(revoked.grantedNext()).toBe(false);
    revoked.pass(1);
    expect(revoked.grantedNext()).toBe(true);
  });

  it("a clean release, a lease given back by its owner and a goodbye hand the lock on at once", () => {
    const released = heldWithDelay(10_000);
    const token = (released.held.outcome as { token: number }).token;
    expect(released.coordinator.release(released.holder, released.coordinator.locks, "res", token)).toBe(true);
    expect(released.grantedNext()).toBe(true);

    const revokedByOwner = heldWithDelay(10_000);
    revokedByOwner.coordinator.endLease(revokedByOwner.holderLease, "released");
    expect(revokedByOwner.grantedNext()).toBe(true);

    const bye = heldWithDelay(10_000);
    bye.coordinator.endSession(bye.holder, "released");
    expect(bye.grantedNext()).toBe(true);
  });

  it("during the delay a try is refused and a steal is granted at once", () => {
    const t = heldWithDelay(1_000);
    t.coordinator.forceRelease("res");
    const other = t.open("other");
    const otherLease = t.grant(other, 60_000);
    expect(t.acquire(other, otherLease, "res", 0).outcome).toBe("busy");
    const stolen = t.acquire(other, otherLease, "res", 0, { steal: true });
    expect(stolen.outcome).toMatchObject({ token: expect.any(Number) });
    // The queued waiter keeps its place behind the thief, and is not granted by the delay's end.
    t.pass(1_000);
    expect(t.grantedNext()).toBe(false);
  });

  it("waiters queued before and during the delay are granted in their order once it ends", () => {
    const t = heldWithDelay(400);
    t.coordinator.forceRelease("res");
    const later = t.open("later");
    const laterLease = t.grant(later, 60_000);
    const second = t.acquire(later, laterLease, "res", true);
    expect(second.outcome).toBe("queued");
    t.coordinator.heard(later);
    t.pass(400);
    expect(t.grantedNext()).toBe(true);
    expect(t.indexOf((entry) => isGrant(entry, "later", second.id))).toBe(-1);
    const token = tokenOf(t.log[t.indexOf((entry) => isGrant(entry, "next", t.queued.id))]);
    t.coordinator.release(t.next, t.coordinator.locks, "res", token);
    expect(t.indexOf((entry) => isGrant(entry, "later", second.id))).toBeGreaterThan(-1);
  });

  it("the server's default applies when the acquire gives none; an acquire's own, 0 included, wins", () => {
    const byDefault = heldWithDelay(undefined, { lockDelayMs: 250 });
    byDefault.coordinator.forceRelease("res");
    expect(byDefault.grantedNext()).toBe(false);
    byDefault.pass(250);
    expect(byDefault.grantedNext()).toBe(true);

    const none = heldWithDelay(0, { lockDelayMs: 250 });
    none.coordinator.forceRelease("res");
    expect(none.grantedNext()).toBe(true);
  });

  it("a lost shared hold's delay keeps exclusive requests out, not shared ones", () => {
    const clock = new FakeClock(0);
    const t = setup({}, clock);
    const reader = t.open("reader");
    const readerLease = t.grant(reader, 60_000);
    t.acquire(reader, readerLease, "res", 0, { mode: "shared", lockDelay: 1_000 });
    t.coordinator.forceRelease("res");
    const other = t.open("other");
    const otherLease = t.grant(other, 60_000);
    expect(t.acquire(other, otherLease, "res", 0, { mode: "exclusive" }).outcome).toBe("busy");
    expect(t.acquire(other, otherLease, "res", 0, { mode: "shared" }).outcome).toMatchObject({ token: expect.any(Number) });
  });

  it("is kept with a hold restored from storage: the restored holder's expiry starts it", () => {
    const clock = new FakeClock(0);
    const t = setup({}, clock);
    restore(t.coordinator, {
      revision: 5,
      nextLeaseId: 2,
      sessions: [{ id: "gone", secret: "s", createdAt: 0, agent: undefined, lastRequest: 1, principal: undefined, account: undefined }],
      leases: [{ id: 1, session: "gone", ttl: 1_000, keepAlive: true }],
      holds: [{ table: "lock", name: "res", limit: undefined, token: 5, lease: 1, mode: "exclusive", request: 1, value: undefined, lockDelay: 700, delayUntil: undefined }],
      waits: [],
      keys: [],
      counters: [],
    });
    const next = t.open("next");
    const nextLease = t.grant(next, 60_000);
    const queued = t.acquire(next, nextLease, "res", true);
    const pass = (ms: number) => {
      t.coordinator.heard(next);
      clock.advance(ms);
    };
    pass(1_000); // the restored lease, never resumed, expires
    pass(699);
    expect(t.indexOf((entry) => isGrant(entry, "next", queued.id))).toBe(-1);
    pass(1);
    expect(t.indexOf((entry) => isGrant(entry, "next", queued.id))).toBeGreaterThan(-1);
  });

  it("refuses a delay longer than the longest finite wait", () => {
    const t = setup({ limits: { maxWaitMs: 60_000 } });
    const session = t.open("a");
    const lease = t.grant(session, 1_000);
    expect(() => t.acquire(session, lease, "res", 0, { lockDelay: 60_001 })).toThrow(expect.objectContaining({ code: ErrorCode.OUT_OF_RANGE }));
  });
});
