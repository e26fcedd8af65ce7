import { describe, expect, it } from "vitest";
import { decodeClientMessage, decodeServerMessage, encode } from "./codec.js";
import { ErrorCode } from "./codes.js";
import { Results } from "./server-messages.js";

const update = {
  type: "admin.update",
  subscription: 3,
  now: 12_345,
  revision: 40,
  reset: true,
  synced: false,
  sessions: [{ session: "s1", address: "127.0.0.1:5000", agent: "worker-7", connected: true, since: 100 }],
  sessionsGone: ["s0"],
  leases: [{ lease: 1, session: "s1", ttl: 5_000, keepAlive: false, expiresAt: 17_000 }],
  leasesGone: [2],
  locks: [
    { name: "job", kind: "lock", holders: [{ session: "s1", lease: 1, mode: "exclusive", since: 200, token: 39 }], held: 1, waiters: [], waiting: 0 },
    { name: "leader", kind: "election", holders: [], held: 0, waiters: [{ session: "s1", lease: 1, mode: "exclusive", since: 300 }], waiting: 1 },
  ],
  locksGone: ["old"],
  electionsGone: [],
};

describe("admin feed messages", () => {
  it("admin.subscribe and admin.unsubscribe decode; a bad subscription id is refused with a code", () => {
    expect(decodeClientMessage(encode({ op: "admin.subscribe", id: 1 }))).toEqual({ ok: true, message: { op: "admin.subscribe", id: 1 } });
    expect(decodeClientMessage(encode({ op: "admin.unsubscribe", id: 2, subscription: 1 }))).toMatchObject({ ok: true });
    expect(decodeClientMessage(encode({ op: "admin.unsubscribe", id: 3 }))).toMatchObject({ ok: false, fatal: false, code: ErrorCode.BAD_REQUEST, id: 3 });
    expect(decodeClientMessage(encode({ op: "admin.unsubscribe", id: 4, subscription: -1 }))).toMatchObject({ ok: false, id: 4 });
  });

  it("admin.update round-trips, and a push missing a part or with a bad kind is refused", () => {
    expect(decodeServerMessage(encode(update))).toEqual({ ok: true, message: update });
    const { locksGone: _dropped, ...incomplete } = update;
    expect(decodeServerMessage(encode(incomplete))).toMatchObject({ ok: false });
    expect(decodeServerMessage(encode({ ...update, locks: [{ ...update.locks[0], kind: "mutex" }] }))).toMatchObject({ ok: false });
    expect(Results["admin.subscribe"].safeParse({ subscription: 3, revision: 40 }).success).toBe(true);
  });

  it("admin.state carries the optional counts (account, subscriptions, a lease's keys, keys, counters, history), and parses without them", () => {
    const bare = {
      now: 12_345,
      revision: 40,
      sessions: [{ session: "s1", address: "127.0.0.1:5000", connected: true, ageMs: 100 }],
      leases: [{ lease: 1, session: "s1", ttl: 5_000, remaining: 4_000, keepAlive: true }],
      locks: [{ name: "job", kind: "lock", holders: [{ session: "s1", lease: 1, token: 39, mode: "exclusive" }], waiters: [] }],
    };
    const full = {
      ...bare,
      sessions: [{ ...bare.sessions[0], account: "token:ops", subscriptions: 2 }],
      leases: [{ ...bare.leases[0], keys: 3 }],
      keys: 3,
      counters: 1,
      history: 17,
    };
    expect(Results["admin.state"].parse(bare)).toEqual(bare);
    expect(Results["admin.state"].parse(full)).toEqual(full);
    expect(Results["admin.state"].safeParse({ ...full, history: -1 }).success).toBe(false);
    expect(Results["admin.state"].safeParse({ ...full, sessions: [{ ...full.sessions[0], subscriptions: 0.5 }] }).success).toBe(false);
  });
});
