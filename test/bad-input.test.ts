import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { connect, type Lease, type LeaseholdClient, type Lock } from "@leasehold/client";
import { CloseCode, ErrorCode, PROTOCOL_VERSION, encode, type Welcome } from "@leasehold/protocol";
import { ADMISSION_DEFAULTS, createServer, type LeaseholdServer, type ServerOptions } from "@leasehold/server";
import { requestWithRaw } from "./support/hostile-frames.js";
import { Raw } from "./support/raw.js";
import { lockIn, sessionIn, type InspectedSession, type Inspection } from "./support/inspect.js";

/**
 * Hostile and broken clients on raw sockets, against a real server. Each kind of bad input gets its
 * documented answer (an error with the right code, or a close with the right close code), the server
 * never throws out of a socket handler, and another session, a real client holding a lease and a
 * lock, keeps working throughout.
 */

const WAIT = { timeout: 10_000, interval: 5 };

// Uncaught exceptions while a test runs. In a real server process, any of them would have killed it;
// here they are caught and turned into a failed assertion of the test that caused them.
const crashes: unknown[] = [];
const trap = (error: unknown) => void crashes.push(error);
let vitestListeners: NodeJS.UncaughtExceptionListener[] = [];

beforeEach(() => {
  crashes.length = 0;
  vitestListeners = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  process.on("uncaughtException", trap);
});

afterEach(() => {
  process.off("uncaughtException", trap);
  for (const listener of vitestListeners) process.on("uncaughtException", listener);
});

describe("bad input on the main server", () => {
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await Fixture.start({ limits: { maxFrameBytes: 4_096, maxLeasesPerSession: 3, maxWaitersPerLock: 2 } });
  });
  afterAll(() => fixture?.stop());

  it("malformed msgpack: error BAD_REQUEST, then close 4000", async () => {
    const frames = {
      "truncated map": Uint8Array.from([0x81, 0xa2, 0x6f]),
      "truncated string": Uint8Array.from([0xd9, 0x20, 0x61, 0x62]),
      "empty frame": new Uint8Array(0),
      "two values in one frame": Uint8Array.from([...encode({ op: "pong", seq: 1 }), ...encode({ op: "pong", seq: 2 })]),
    };
    for (const [label, frame] of Object.entries(frames)) {
      const raw = await fixture.raw();
      await raw.hello();
      raw.socket.send(frame);
      const close = await raw.closed();
      expect(close.code, label).toBe(CloseCode.PROTOCOL_ERROR);
      expect(raw.errorsBeforeClose(), label).toEqual([expect.objectContaining({ code: ErrorCode.BAD_REQUEST })]);
      expect(raw.errorsBeforeClose()[0]?.id, label).toBeUndefined();
    }
    // Also before the handshake.
    const early = await fixture.raw();
    early.socket.send(frames["truncated map"]);
    expect((await early.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
    expect(early.errorsBeforeClose()).toEqual([expect.objectContaining({ code: ErrorCode.BAD_REQUEST })]);
    await fixture.expectHealthy();
  });

  it("a text frame: error BAD_REQUEST, then close 4000", async () => {
    const raw = await fixture.raw();
    await raw.hello();
    raw.socket.send(JSON.stringify({ op: "lease.grant", id: 1, ttl: 5_000 }));
    expect((await raw.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
    expect(raw.errorsBeforeClose()).toEqual([expect.objectContaining({ code: ErrorCode.BAD_REQUEST })]);
    expect(raw.replies()).toEqual([]);
    await fixture.expectHealthy();
  });

  it("a value that is not a map: BAD_REQUEST, and the connection stays", async () => {
    const raw = await fixture.raw();
    await raw.hello();
    const values: unknown[] = [42, "lease.grant", [1, 2, 3], null, true, 1.5, Uint8Array.from([1, 2, 3])];
    for (const value of values) {
      const before = raw.received.length;
      raw.send(value);
      const error = await raw.next((message) => message.type === "error", { from: before });
      expect(error, JSON.stringify(value)).toMatchObject({ type: "error", code: ErrorCode.BAD_REQUEST });
      expect((error as { id?: number }).id).toBeUndefined();
    }
    expect(await raw.request({ op: "lease.grant", ttl: 5_000 })).toMatchObject({ type: "reply" });
    expect(raw.close).toBeUndefined();
    await fixture.expectHealthy();
  });

  it("an unknown op: UNKNOWN_OP with the request id echoed, and the connection stays", async () => {
    const raw = await fixture.raw();
    await raw.hello();
    for (const op of ["frobnicate", "lease.steal", "LOCK.ACQUIRE", "", 42, undefined]) {
      const answer = await raw.request({ op, name: "x" });
      expect(answer, String(op)).toMatchObject({ type: "error", code: ErrorCode.UNKNOWN_OP, id: raw.lastId });
    }
    expect(await raw.request({ op: "lease.grant", ttl: 5_000 })).toMatchObject({ type: "reply", id: raw.lastId });
    expect(raw.close).toBeUndefined();
    await fixture.expectHealthy();
  });

  it("a request id used again or going back: BAD_REQUEST, no effect, and the connection stays", async () => {
    const raw = await fixture.raw();
    await raw.hello();
    const lease = await raw.grant(5_000);
    const watchId = raw.fire({ op: "watch", prefix: "reuse:" });
    await raw.next((message) => message.type === "reply" && message.id === watchId);
    const before = raw.received.length;
    // The same id again (a second watch would shadow the first), then an older one.
    for (const id of [watchId, watchId - 1]) {
      raw.send({ op: "watch", id, prefix: "reuse:" });
      const answer = await raw.next((message) => message.type === "error" && message.id === id, { from: before });
      expect(answer, `id ${id}`).toMatchObject({ code: ErrorCode.BAD_REQUEST });
    }
    expect((await fixture.sessionOf(raw)).subscriptions).toBe(1);
    expect(await fixture.leasesOf(raw)).toBe(1);
    // Ids go on from the highest one received.
    expect(await raw.request({ op: "lease.renew", lease })).toMatchObject({ type: "reply" });
    expect(raw.close).toBeUndefined();
    await fixture.expectHealthy();
  });

  it("fields of the wrong type: BAD_REQUEST with the id echoed, and nothing happens", async () => {
    const raw = await fixture.raw();
    await raw.hello();
    const lease = await raw.grant(5_000);
    const cases: Record<string, unknown>[] = [
      { op: "lease.grant", ttl: "5000" },
      { op: "lease.grant" },
      { op: "lease.grant", ttl: 5_000, keepAlive: "yes" },
      { op: "lock.acquire", name: 42, lease },
      { op: "lock.acquire", name: "bad-types", lease: String(lease) },
      { op: "lock.acquire", name: "bad-types", lease, mode: "sideways" },
      { op: "lock.acquire", name: "bad-types", lease, wait: "forever" },
      { op: "lock.release", name: "bad-types", token: [1] },
      { op: "lease.renew", lease: { id: lease } },
    ];
    for (const fields of cases) {
      const answer = await raw.request(fields);
      expect(answer, JSON.stringify(fields)).toMatchObject({ type: "error", code: ErrorCode.BAD_REQUEST, id: raw.lastId });
      // Said in the protocol's terms (field, expected, got), never in the schema library's words.
      expect(answer.type === "error" && answer.message, JSON.stringify(fields)).not.toMatch(/Invalid input|Invalid option|received|expected number|expected int\b/);
    }
    expect(await raw.request(cases[0]!)).toMatchObject({ message: 'invalid lease.grant: ttl: expected a number, got the string "5000"' });
    expect(await raw.request(cases[1]!)).toMatchObject({ message: "invalid lease.grant: ttl: missing, expected a number" });
    expect(await raw.request(cases[5]!)).toMatchObject({ message: 'invalid lock.acquire: mode: expected "exclusive" or "shared", got the string "sideways"' });
    // An id that is not a request id cannot be echoed.
    const before = raw.received.length;
    raw.send({ op: "lease.grant", id: "seven", ttl: 5_000 });
    const error = await raw.next((message) => message.type === "error", { from: before });
    expect(error).toMatchObject({ code: ErrorCode.BAD_REQUEST });
    expect((error as { id?: number }).id).toBeUndefined();

    expect(lockIn(await fixture.state(), "bad-types")).toBeUndefined();
    expect(await fixture.leasesOf(raw)).toBe(1);
    expect(raw.close).toBeUndefined();
    await fixture.expectHealthy();
  });

  it("a TTL outside the server's range: OUT_OF_RANGE, and no lease is granted", async () => {
    const raw = await fixture.raw();
    await raw.hello();
    const { minTtlMs, maxTtlMs } = raw.welcome!.limits;
    for (const ttl of [-1, 0, 10, minTtlMs - 1, maxTtlMs + 1, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
      const answer = await raw.request({ op: "lease.grant", ttl });
      expect(answer, `ttl ${ttl}`).toMatchObject({ type: "error", code: ErrorCode.OUT_OF_RANGE, id: raw.lastId });
    }
    expect(await fixture.leasesOf(raw)).toBe(0);
    // The bounds themselves are accepted.
    expect(await raw.request({ op: "lease.grant", ttl: minTtlMs })).toMatchObject({ type: "reply", result: { ttl: minTtlMs } });
    expect(await raw.request({ op: "lease.grant", ttl: maxTtlMs })).toMatchObject({ type: "reply", result: { ttl: maxTtlMs } });
    await fixture.expectHealthy();
  });

  it("negative or absurd waits: OUT_OF_RANGE, and the free lock is not granted", async () => {
    const raw = await fixture.raw();
    await raw.hello();
    const lease = await raw.grant(5_000);
    const { maxWaitMs } = raw.welcome!.limits;
    for (const wait of [-1, -5_000, maxWaitMs + 1, 2 ** 31, 1e12, Number.MAX_SAFE_INTEGER]) {
      const answer = await raw.request({ op: "lock.acquire", name: "absurd-wait", lease, wait });
      expect(answer, `wait ${wait}`).toMatchObject({ type: "error", code: ErrorCode.OUT_OF_RANGE, id: raw.lastId });
      expect(lockIn(await fixture.state(), "absurd-wait"), `wait ${wait}`).toBeUndefined();
    }
    expect(await raw.request({ op: "lock.acquire", name: "absurd-wait", lease, wait: maxWaitMs })).toMatchObject({
      type: "reply",
      result: { acquired: true },
    });
    await fixture.expectHealthy();
  });

  it("a frame over the size limit: ws closes with 1009; one just under it is served", async () => {
    const raw = await fixture.raw();
    const welcome = await raw.hello();
    const limit = welcome.limits.maxFrameBytes;
    expect(limit).toBe(4_096);
    const fits = encode({ op: "lease.grant", id: 1, ttl: 5_000, agent: "x".repeat(limit - 100) });
    expect(fits.length).toBeLessThanOrEqual(limit);
    raw.lastId = 1;
    raw.socket.send(fits);
    expect(await raw.next((message) => message.type === "reply" && message.id === 1)).toMatchObject({ result: { ttl: 5_000 } });

    const tooBig = encode({ op: "lease.grant", id: 2, ttl: 5_000, agent: "x".repeat(limit) });
    expect(tooBig.length).toBeGreaterThan(limit);
    raw.socket.send(tooBig);
    expect((await raw.closed()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    expect(raw.received.some((message) => message.type === "reply" && message.id === 2)).toBe(false);
    await fixture.expectHealthy();
  });

  it("a request before hello: error HANDSHAKE_REQUIRED, then close 4000", async () => {
    for (const first of [{ op: "lease.grant", id: 1, ttl: 5_000 }, { op: "pong", seq: 1 }, { op: "bye", id: 1 }]) {
      const raw = await fixture.raw();
      raw.send(first);
      expect((await raw.closed()).code, first.op).toBe(CloseCode.PROTOCOL_ERROR);
      expect(raw.errorsBeforeClose(), first.op).toEqual([expect.objectContaining({ code: ErrorCode.HANDSHAKE_REQUIRED })]);
      expect(raw.received.some((message) => message.type === "welcome" || message.type === "reply"), first.op).toBe(false);
    }
    await fixture.expectHealthy();
  });

  it("a second hello: error HANDSHAKE_REQUIRED, the session is unchanged and the connection stays", async () => {
    const raw = await fixture.raw();
    const welcome = await raw.hello();
    const lease = await raw.grant(5_000);
    const before = raw.received.length;
    raw.send({ op: "hello", version: PROTOCOL_VERSION });
    const error = await raw.next((message) => message.type === "error", { from: before });
    expect(error).toMatchObject({ code: ErrorCode.HANDSHAKE_REQUIRED });
    expect(raw.received.filter((message) => message.type === "welcome")).toHaveLength(1);
    // Same session, same lease.
    expect(await raw.request({ op: "lease.ttl", lease })).toMatchObject({ type: "reply", result: { ttl: 5_000 } });
    expect((await fixture.sessionOf(raw)).session).toBe(welcome.session);
    expect(raw.close).toBeUndefined();
    await fixture.expectHealthy();
  });

  it("a resume of another session with a wrong secret starts a new session and takes nothing over", async () => {
    const victim = fixture.witness.client.sessionId!;
    for (const secret of ["guess", "x".repeat(128), (await helloed(fixture)).welcome!.secret]) {
      const raw = await fixture.raw();
      raw.send({ op: "hello", version: PROTOCOL_VERSION, resume: { session: victim, secret } });
      const welcome = await raw.next((message) => message.type === "welcome");
      expect(welcome).toMatchObject({ resumed: false });
      expect((welcome as Welcome).session).not.toBe(victim);
      expect((welcome as Welcome).resync).toBeUndefined();
    }
    await fixture.expectHealthy();
  });

  it("an unsupported protocol version: error UNSUPPORTED_VERSION, then close 4001", async () => {
    for (const version of [0, PROTOCOL_VERSION + 1, 99]) {
      const raw = await fixture.raw();
      raw.send({ op: "hello", version });
      expect((await raw.closed()).code, `version ${version}`).toBe(CloseCode.UNSUPPORTED_VERSION);
      expect(raw.errorsBeforeClose(), `version ${version}`).toEqual([expect.objectContaining({ code: ErrorCode.UNSUPPORTED_VERSION })]);
      expect(raw.received.some((message) => message.type === "welcome")).toBe(false);
    }
    await fixture.expectHealthy();
  });

  it("operations on another session's lease: LEASE_NOT_OWNED, and its lock stays where it is", async () => {
    const raw = await fixture.raw();
    await raw.hello();
    const victim = fixture.witness.lease.id;
    const attempts: Record<string, unknown>[] = [
      { op: "lock.acquire", name: "thief", lease: victim },
      { op: "lock.acquire", name: Witness.LOCK, lease: victim, wait: true },
      { op: "lease.renew", lease: victim },
      { op: "lease.ttl", lease: victim },
      { op: "lease.revoke", lease: victim },
    ];
    for (const fields of attempts) {
      const answer = await raw.request(fields);
      expect(answer, JSON.stringify(fields)).toMatchObject({ type: "error", code: ErrorCode.LEASE_NOT_OWNED, id: raw.lastId });
    }
    const state = await fixture.state();
    expect(lockIn(state, "thief")).toBeUndefined();
    expect(lockIn(state, Witness.LOCK)?.waiters).toEqual([]);

    // Releasing someone else's lock by its name and token does nothing (whatever the answer says).
    const release = await raw.request({ op: "lock.release", name: Witness.LOCK, token: fixture.witness.lock.token });
    expect(release.type === "error" || (release.type === "reply" && release.result.released === false), JSON.stringify(release)).toBe(true);
    expect(lockIn(await fixture.state(), Witness.LOCK)?.holders.map((hold) => hold.token)).toEqual([fixture.witness.lock.token]);
    await fixture.expectHealthy();
  });

  it("requests that follow a bye on the same connection leave nothing behind", async () => {
    const raw = await fixture.raw();
    const { limits } = await raw.hello();
    // Lease ids are handed out in order: the grant after the bye would get the next one.
    const next = (await raw.grant(limits.minTtlMs)) + 1;
    // Sent in one go, so that the server reads them together, before the bye's close takes effect.
    raw.send({ op: "bye", id: ++raw.lastId });
    raw.send({ op: "lease.grant", id: ++raw.lastId, ttl: limits.minTtlMs });
    raw.send({ op: "lock.acquire", id: ++raw.lastId, name: "after-bye", lease: next });
    expect((await raw.closed()).code).toBe(CloseCode.NORMAL);

    // Whatever the server made of them, within a TTL nothing of that session may be left: no lease,
    // no lock. The witness asks for the lock and must get it.
    const lock = await fixture.witness.client.locks.acquire("after-bye", fixture.witness.lease.id, { wait: limits.minTtlMs * 3 });
    expect(lock.acquired).toBe(true);
    await lock.release();
    const state = await fixture.state();
    const orphans = state.leases.filter((lease) => sessionIn(state, lease.session) === undefined);
    expect(orphans.map((lease) => lease.lease)).toEqual([]);
    await fixture.expectHealthy();
  });

  it("maxLeasesPerSession: LIMIT_EXCEEDED beyond it, room again after a revoke", async () => {
    const raw = await fixture.raw();
    const { limits } = await raw.hello();
    expect(limits.maxLeasesPerSession).toBe(3);
    const leases: number[] = [];
    for (let i = 0; i < limits.maxLeasesPerSession; i++) leases.push(await raw.grant(5_000));
    expect(await raw.request({ op: "lease.grant", ttl: 5_000 })).toMatchObject({ type: "error", code: ErrorCode.LIMIT_EXCEEDED, id: raw.lastId });
    expect(await fixture.leasesOf(raw)).toBe(limits.maxLeasesPerSession);
    expect(await raw.request({ op: "lease.revoke", lease: leases[0] })).toMatchObject({ type: "reply" });
    expect(await raw.request({ op: "lease.grant", ttl: 5_000 })).toMatchObject({ type: "reply" });
    // The limit is per session: the witness could still grant a lease of its own.
    const extra = await fixture.witness.client.leases.grant(5_000);
    await fixture.witness.client.leases.revoke(extra.id);
    await fixture.expectHealthy();
  });

  it("maxWaitersPerLock: LIMIT_EXCEEDED for one waiter too many; a try is still answered; room again after a cancel", async () => {
    const name = "crowded";
    const holder = await fixture.raw();
    await holder.hello();
    const held = await holder.request({ op: "lock.acquire", name, lease: await holder.grant(5_000) });
    expect(held).toMatchObject({ type: "reply", result: { acquired: true } });

    const waiter = await fixture.raw();
    const { limits } = await waiter.hello();
    expect(limits.maxWaitersPerLock).toBe(2);
    const lease = await waiter.grant(5_000);
    const queued: number[] = [];
    for (let i = 0; i < limits.maxWaitersPerLock; i++) {
      waiter.send({ op: "lock.acquire", id: ++waiter.lastId, name, lease, wait: true });
      queued.push(waiter.lastId);
    }
    await vi.waitFor(async () => expect(lockIn(await fixture.state(), name)?.waiters).toHaveLength(limits.maxWaitersPerLock), WAIT);
    expect(await waiter.request({ op: "lock.acquire", name, lease, wait: 5_000 })).toMatchObject({
      type: "error",
      code: ErrorCode.LIMIT_EXCEEDED,
      id: waiter.lastId,
    });
    expect(await waiter.request({ op: "lock.acquire", name, lease })).toMatchObject({ type: "reply", result: { acquired: false } });

    expect(await waiter.request({ op: "cancel", target: queued[0] })).toMatchObject({ type: "reply", result: { cancelled: true } });
    expect(waiter.received.find((message) => message.type === "error" && message.id === queued[0])).toMatchObject({ code: ErrorCode.CANCELLED });
    waiter.send({ op: "lock.acquire", id: ++waiter.lastId, name, lease, wait: true });
    const last = waiter.lastId;
    await vi.waitFor(async () => expect(lockIn(await fixture.state(), name)?.waiters).toHaveLength(limits.maxWaitersPerLock), WAIT);
    expect(waiter.received.some((message) => "id" in message && message.id === last)).toBe(false);

    // The queue still works: the holder lets go and the oldest remaining waiter gets the lock.
    if (held.type !== "reply") throw new Error("unreachable");
    expect(await holder.request({ op: "lock.release", name, token: held.result.token })).toMatchObject({
      result: { released: true },
    });
    expect(await waiter.next((message) => message.type === "reply" && message.id === queued[1])).toMatchObject({ result: { acquired: true } });
    await fixture.expectHealthy();
  });
});

describe("deep nesting", () => {
  let fixture: Fixture;

  // The default frame limit (64 KiB), so that the nesting reaches the decoder.
  beforeAll(async () => {
    fixture = await Fixture.start({});
  });
  afterAll(() => fixture?.stop());

  it("50,000 nested arrays or 20,000 nested maps: refused as BAD_REQUEST (close 4000), no crash", async () => {
    const frames = {
      arrays: nested(50_000, [0x91], [0xc0]),
      maps: nested(20_000, [0x81, 0xa1, 0x61], [0xc0]),
      "arrays inside a request": requestWithRaw("kv.put", { key: "deep" }, "value", nested(50_000, [0x91], [0xc0])),
    };
    for (const [label, frame] of Object.entries(frames)) {
      expect(frame.length, label).toBeLessThan(64 * 1024);
      const raw = await fixture.raw();
      await raw.hello();
      raw.socket.send(frame);
      const close = await raw.closed();
      expect(crashes, label).toEqual([]);
      expect(close.code, label).toBe(CloseCode.PROTOCOL_ERROR);
      expect(raw.errorsBeforeClose(), label).toEqual([expect.objectContaining({ code: ErrorCode.BAD_REQUEST })]);
    }
    await fixture.expectHealthy();
  });

  // A value nested deeply enough to pass msgpackr (which refuses some 5,000 levels and more itself) but
  // not the recursive `Value` schema makes the schema check throw RangeError (stack overflow). At commit
  // 0e89c0a nothing caught it: it went out of the ws 'message' handler and killed the server, before the
  // handshake too, with a frame of a few KB. Where the window lies depends on the stack in use and on the
  // JIT, so the test sweeps the depths. Since the frame scan, anything nested deeper than
  // BOUNDS.maxFrameDepth is refused before it is decoded.
  it("a request value nested 500 to 10,000 levels deep is answered or refused, never crashes the server", async () => {
    for (let depth = 500; depth <= 10_000; depth += 250) {
      for (const handshake of [true, false]) {
        const label = `depth ${depth}${handshake ? "" : ", before hello"}`;
        const raw = await fixture.raw();
        if (handshake) await raw.hello();
        const before = raw.received.length;
        const frame = requestWithRaw("kv.put", { id: 1, key: `deep-${depth}` }, "value", nested(depth, [0x91], [0xc0]));
        raw.socket.send(frame);
        // An answer to the request, an error about the frame, or a close: anything but silence after a crash.
        await vi.waitFor(() => expect(crashes.length > 0 || raw.close !== undefined || raw.received.length > before, label).toBe(true), WAIT);
        expect(crashes.map(String), label).toEqual([]);
        const answer = raw.received[before];
        if (raw.close && !handshake && frame.length > ADMISSION_DEFAULTS.maxHandshakeBytes) {
          // Before hello, a frame larger than the handshake's byte bound is cut off unread.
          expect(raw.close.code, label).toBe(CloseCode.MESSAGE_TOO_BIG);
        } else if (raw.close) {
          expect(raw.close.code, label).toBe(CloseCode.PROTOCOL_ERROR);
          // Before hello, a frame that did decode is refused for coming before the handshake.
          const codes: ErrorCode[] = handshake ? [ErrorCode.BAD_REQUEST] : [ErrorCode.BAD_REQUEST, ErrorCode.HANDSHAKE_REQUIRED];
          expect(raw.errorsBeforeClose().map((error) => codes.includes(error.code)), label).toEqual([true]);
        } else {
          expect(answer?.type === "reply" || answer?.type === "error", `${label}: ${JSON.stringify(answer)}`).toBe(true);
        }
        raw.socket.terminate();
      }
    }
    await fixture.expectHealthy();
  });
});

describe("a handshake that never comes", () => {
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await Fixture.start({ handshakeTimeoutMs: 200 });
  });
  afterAll(() => fixture?.stop());

  it("closes with 4002 after handshakeTimeoutMs; a connection that said hello stays", async () => {
    const greeted = await fixture.raw();
    await greeted.hello();
    const silent = await fixture.raw();
    const openedAt = performance.now();
    const close = await silent.closed();
    const elapsed = performance.now() - openedAt;
    expect(close.code).toBe(CloseCode.HANDSHAKE_TIMEOUT);
    expect(elapsed).toBeGreaterThanOrEqual(100);
    expect(elapsed).toBeLessThan(5_000);
    expect(silent.received).toEqual([]);
    // Long past the deadline, the connection that completed its handshake is still served.
    expect(await greeted.request({ op: "lease.grant", ttl: 5_000 })).toMatchObject({ type: "reply" });
    expect(greeted.close).toBeUndefined();
    await fixture.expectHealthy();
  });
});

describe("maxSessions", () => {
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await Fixture.start({ limits: { maxSessions: 3 } });
  });
  afterAll(() => fixture?.stop());

  it("refuses a session beyond the limit with LIMIT_EXCEEDED and close 4005; a bye makes room", async () => {
    // The witness holds the first session.
    const first = await fixture.raw();
    await first.hello();
    const second = await fixture.raw();
    await second.hello();
    const refused = await fixture.raw();
    refused.send({ op: "hello", version: PROTOCOL_VERSION });
    expect((await refused.closed()).code).toBe(CloseCode.TOO_MANY_SESSIONS);
    expect(refused.errorsBeforeClose()).toEqual([expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED })]);
    expect(refused.received.some((message) => message.type === "welcome")).toBe(false);
    expect((await fixture.state()).sessions).toHaveLength(3);

    expect(await first.request({ op: "bye" })).toMatchObject({ type: "reply" });
    expect((await first.closed()).code).toBe(CloseCode.NORMAL);
    const later = await fixture.raw();
    await later.hello();
    expect((await fixture.state()).sessions).toHaveLength(3);
    // Make room for the health check's own session.
    expect(await later.request({ op: "bye" })).toMatchObject({ type: "reply" });
    await vi.waitFor(async () => expect((await fixture.state()).sessions).toHaveLength(2), WAIT);
    await fixture.expectHealthy();
  });
});

/** A server and a witness: another session that holds a lease and a lock and must never notice the abuse. */
class Fixture {
  private constructor(
    readonly server: LeaseholdServer,
    readonly witness: Witness,
  ) {}

  static async start(options: Omit<ServerOptions, "host" | "port">): Promise<Fixture> {
    const server = await createServer({ host: "127.0.0.1", port: 0, ...options });
    return new Fixture(server, await Witness.start(server));
  }

  raw(): Promise<Raw> {
    return Raw.open(this.server.url);
  }

  /** The server's state as an admin reads it, through the witness's own session (so that no other one is opened: see maxSessions). */
  state(): Promise<Inspection> {
    return this.witness.client.admin.state();
  }

  /** The session of a raw client as an admin reads it. */
  async sessionOf(raw: Raw): Promise<InspectedSession> {
    const session = sessionIn(await this.state(), raw.welcome?.session);
    if (!session) throw new Error("the raw client has no session on the server");
    return session;
  }

  /** How many leases the session of a raw client holds, as an admin reads it. */
  async leasesOf(raw: Raw): Promise<number> {
    const state = await this.state();
    return state.leases.filter((lease) => lease.session === raw.welcome?.session).length;
  }

  /** No crash, and the witness still holds what it held and can still acquire and release. */
  async expectHealthy(): Promise<void> {
    expect(crashes.map(String)).toEqual([]);
    await this.witness.expectWorking();
    // The server still accepts new connections and handshakes.
    const fresh = await this.raw();
    await fresh.hello();
    expect(await fresh.request({ op: "bye" })).toMatchObject({ type: "reply" });
    expect(crashes.map(String)).toEqual([]);
  }

  async stop(): Promise<void> {
    await this.witness.client.close();
    await this.server.close();
  }
}

class Witness {
  static readonly LOCK = "witness:held";
  /** Everything that went wrong for the witness: lost lease or lock, dropped connection. */
  readonly incidents: string[] = [];
  #probes = 0;

  private constructor(
    readonly server: LeaseholdServer,
    readonly client: LeaseholdClient,
    readonly lease: Lease,
    readonly lock: Lock,
  ) {
    lease.signal.addEventListener("abort", () => this.incidents.push(`lease lost: ${String(lease.signal.reason)}`));
    lock.signal.addEventListener("abort", () => this.incidents.push(`lock lost: ${String(lock.signal.reason)}`));
    for (const event of ["disconnected", "expired", "closed"]) client.addEventListener(event, () => this.incidents.push(event));
  }

  static async start(server: LeaseholdServer): Promise<Witness> {
    const client = await connect(server.url, { agent: "witness" });
    const lease = await client.leases.grant(10_000);
    const lock = await client.locks.acquire(Witness.LOCK, lease.id);
    expect(lock.acquired).toBe(true);
    return new Witness(server, client, lease, lock);
  }

  async expectWorking(): Promise<void> {
    expect(this.incidents).toEqual([]);
    expect(this.lease.lost).toBe(false);
    expect(this.lock.held).toBe(true);
    expect(lockIn(await this.client.admin.state(), Witness.LOCK)?.holders.map((hold) => hold.token)).toEqual([this.lock.token]);
    const probe = await this.client.locks.acquire(`witness:probe:${++this.#probes}`, this.lease.id, { wait: 1_000 });
    expect(probe.acquired).toBe(true);
    expect(probe.token!).toBeGreaterThan(this.lock.token!);
    await probe.release();
    expect(lockIn(await this.client.admin.state(), `witness:probe:${this.#probes}`)).toBeUndefined();
    const ttl = await this.client.leases.timeToLive(this.lease.id);
    expect(ttl.locks).toEqual([Witness.LOCK]);
    expect(this.incidents).toEqual([]);
  }
}

/** A raw client of the fixture's server that has said hello. */
async function helloed(fixture: Fixture): Promise<Raw> {
  const raw = await fixture.raw();
  await raw.hello();
  return raw;
}

/** `depth` copies of `open` around `inner`: msgpack containers of one element each. */
function nested(depth: number, open: number[], inner: number[]): Uint8Array {
  const bytes = new Uint8Array(depth * open.length + inner.length);
  for (let i = 0; i < depth; i++) bytes.set(open, i * open.length);
  bytes.set(inner, depth * open.length);
  return bytes;
}
