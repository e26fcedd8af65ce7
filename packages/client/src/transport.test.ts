import { CloseCode, ErrorCode, FakeClock, LocalCloseCode, PROTOCOL_VERSION, RECONNECT_POLICY, decode, encode, type CloseCode as CloseCodeType, type ServerMessage } from "@leasehold/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeSocket } from "./fake-socket.test-support.js";
import { Transport, type ConnectionState, type TransportEvents, type TransportTiming } from "./transport.js";

/** The largest value `Math.random()` can return: every backoff wait is its cap minus 1 ms. */
const ALMOST_ONE = 1 - Number.EPSILON / 2;

afterEach(() => FakeSocket.reset());

describe("Transport: dial", () => {
  it("sends the hello once the socket opens, and is open with the welcome's session", async () => {
    const { transport, states } = harness();
    const started = transport.start();
    expect(transport.state).toEqual({ kind: "connecting", url: "ws://a", attempt: 0 });
    const socket = FakeSocket.last();
    socket.open();
    expect(socket.sent).toEqual([{ op: "hello", version: PROTOCOL_VERSION }]);
    socket.welcome({ session: "s7" });
    await started;
    expect(transport.state).toEqual({ kind: "open", url: "ws://a", session: "s7", since: 0 });
    expect(states.map((state) => state.kind)).toEqual(["connecting", "open"]);
  });

  it("answers a second start() with the dial in flight: one socket, both callers settled", async () => {
    const { transport } = harness();
    const first = transport.start();
    const second = transport.start();
    expect(second).toBe(first);
    expect(FakeSocket.sockets).toHaveLength(1);
    FakeSocket.last().welcome();
    await expect(Promise.all([first, second])).resolves.toEqual([undefined, undefined]);
    // Connected: a third start() neither dials nor waits.
    await transport.start();
    expect(FakeSocket.sockets).toHaveLength(1);
  });

  it("rejects start() when the only URL refuses, and is closed", async () => {
    const { transport } = harness();
    const started = transport.start();
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    await expect(started).rejects.toMatchObject({ code: ErrorCode.NOT_CONNECTED });
    expect(transport.state).toMatchObject({ kind: "closed", code: LocalCloseCode.ABNORMAL });
  });

  it("gives up a dial with no welcome after the handshake timeout", async () => {
    const { transport, clock } = harness({ timing: { handshakeTimeoutMs: 300 } });
    const started = transport.start();
    const socket = FakeSocket.last();
    socket.open();
    clock.advance(299);
    expect(transport.state.kind).toBe("connecting");
    clock.advance(1);
    await expect(started).rejects.toMatchObject({ code: ErrorCode.TIMEOUT, message: "no welcome from ws://a within 300 ms" });
    expect(socket.closedWith?.code).toBe(CloseCode.PROTOCOL_ERROR);
  });
});

describe("Transport: redial", () => {
  it("redials after the backoff, with a fresh hello, and tells the owner once", async () => {
    const { transport, clock, downs } = await opened({ timing: { backoff: { baseMs: 100, maxMs: 5_000, random: () => 0.5 } } });
    // Up longer than the stable time: the backoff starts from the first attempt.
    clock.advance(6_000);
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL, "gone");
    expect(downs).toEqual([{ code: LocalCloseCode.ABNORMAL, final: false }]);
    expect(transport.state).toEqual({ kind: "reconnecting", url: undefined, attempt: 0, since: 6_000, code: LocalCloseCode.ABNORMAL, reason: "gone" });
    // random 0.5 of the first cap, 100 ms.
    clock.advance(49);
    expect(FakeSocket.sockets).toHaveLength(1);
    clock.advance(1);
    expect(FakeSocket.sockets).toHaveLength(2);
    expect(transport.state).toMatchObject({ kind: "reconnecting", url: "ws://a", since: 6_000 });
    // A failed redial waits longer and is not told to the owner again.
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    clock.advance(99);
    expect(FakeSocket.sockets).toHaveLength(2);
    clock.advance(1);
    expect(FakeSocket.sockets).toHaveLength(3);
    FakeSocket.last().welcome();
    expect(transport.state.kind).toBe("open");
    expect(downs).toHaveLength(1);
  });

  it("never waits longer than the owner allows (its leases would lapse first)", async () => {
    const { clock } = await opened({ maxReconnectDelay: 10, timing: { backoff: { baseMs: 5_000, maxMs: 5_000, random: () => ALMOST_ONE } } });
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    clock.advance(10);
    expect(FakeSocket.sockets).toHaveLength(2);
  });

  it("keeps growing the backoff across connections cut off before they are stable (4008)", async () => {
    const { clock, downs } = await opened({ timing: { backoff: { baseMs: 100, maxMs: 5_000, random: () => ALMOST_ONE } } });
    const dialedAt: number[] = [clock.now()];
    for (let round = 0; round < 7; round++) {
      FakeSocket.last().serverClose(CloseCode.RATE_LIMITED, "cut off");
      dialedAt.push(timeOfNextDial(clock));
      FakeSocket.last().welcome();
    }
    const gaps = dialedAt.slice(1).map((at, index) => at - dialedAt[index]!);
    // The full-jitter cap doubles from 200 ms up to 5 s (before, each welcome restarted it: 199 ms every time).
    expect(gaps).toEqual([199, 399, 799, 1_599, 3_199, 4_999, 4_999]);
    expect(downs.map((down) => down.code)).toEqual(Array.from({ length: 7 }, () => CloseCode.RATE_LIMITED));
  });

  it("starts the backoff again from the first attempt once a connection has stayed up", async () => {
    const { clock } = await opened({ timing: { stableAfterMs: 5_000, backoff: { baseMs: 100, maxMs: 5_000, random: () => ALMOST_ONE } } });
    FakeSocket.last().serverClose(CloseCode.RATE_LIMITED);
    timeOfNextDial(clock);
    FakeSocket.last().welcome();
    FakeSocket.last().serverClose(CloseCode.RATE_LIMITED);
    const before = clock.now();
    expect(timeOfNextDial(clock) - before).toBe(399);
    FakeSocket.last().welcome();
    clock.advance(5_000);
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    const after = clock.now();
    expect(timeOfNextDial(clock) - after).toBe(99);
  });

  it("drops a silent link after three heartbeat intervals and 100 ms, closing it with 4000", async () => {
    const { transport, clock, downs } = await opened({ heartbeat: 1_000 });
    const socket = FakeSocket.last();
    clock.advance(3_099);
    expect(transport.state.kind).toBe("open");
    clock.advance(1);
    expect(transport.state.kind).toBe("reconnecting");
    expect(socket.closedWith?.code).toBe(CloseCode.PROTOCOL_ERROR);
    expect(downs).toEqual([{ code: LocalCloseCode.ABNORMAL, final: false }]);
  });

  it("keeps a link that hears pings", async () => {
    const { transport, clock } = await opened({ heartbeat: 1_000 });
    for (let second = 1; second <= 10; second++) {
      clock.advance(1_000);
      FakeSocket.last().receive({ type: "ping", seq: second, ack: second - 1 });
    }
    expect(transport.state.kind).toBe("open");
    expect(FakeSocket.last().sent.filter((message) => message.op === "pong")).toHaveLength(10);
  });

  it("does not redial when told not to reconnect", async () => {
    const { transport, clock, downs } = await opened({ reconnect: false });
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    clock.advance(60_000);
    expect(FakeSocket.sockets).toHaveLength(1);
    expect(transport.state).toMatchObject({ kind: "closed", code: LocalCloseCode.ABNORMAL });
    expect(downs).toEqual([{ code: LocalCloseCode.ABNORMAL, final: true }]);
  });

  const codes = Object.entries(RECONNECT_POLICY).map(([code, policy]) => [Number(code) as CloseCodeType, policy] as const);
  it.each(codes)("after close %i: %s", async (code, policy) => {
    const { transport, clock, downs } = await opened();
    FakeSocket.last().serverClose(code);
    // Past any backoff wait, within the redial's handshake timeout.
    clock.advance(9_000);
    expect(downs).toEqual([{ code, final: policy === "stop" }]);
    expect(FakeSocket.sockets).toHaveLength(policy === "stop" ? 1 : 2);
    expect(transport.state.kind).toBe(policy === "stop" ? "closed" : "reconnecting");
  });

  it("closes a redial that timed out even when its reason is too long for a close frame", async () => {
    const longUrl = `ws://a/${"x".repeat(200)}`;
    const { clock } = await opened({ urls: ["ws://a", longUrl], timing: { handshakeTimeoutMs: 1_000 } });
    clock.advance(60_000);
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    timeOfNextDial(clock);
    const redial = FakeSocket.last();
    expect(redial.url).toBe(longUrl);
    clock.advance(1_000);
    expect(redial.closedWith?.code).toBe(CloseCode.PROTOCOL_ERROR);
  });

  it("wake() cuts a backoff wait short, and close() stops everything", async () => {
    const { transport, clock } = await opened({ timing: { backoff: { baseMs: 5_000, maxMs: 5_000, random: () => ALMOST_ONE } } });
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    transport.wake();
    expect(FakeSocket.sockets).toHaveLength(2);
    transport.close();
    clock.advance(60_000);
    expect(FakeSocket.sockets).toHaveLength(2);
    expect(FakeSocket.last().closedWith?.code).toBe(CloseCode.NORMAL);
    expect(clock.pending).toBe(0);
  });
});

describe("Transport: several URLs", () => {
  it("tries each URL once, at once, while start() waits, and rejects when none answers", async () => {
    const { transport } = harness({ urls: ["ws://a", "ws://b", "ws://c"] });
    const started = transport.start();
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    expect(transport.state).toEqual({ kind: "connecting", url: "ws://c", attempt: 0 });
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    await expect(started).rejects.toMatchObject({ code: ErrorCode.NOT_CONNECTED, message: expect.stringContaining("ws://c") });
    expect(FakeSocket.sockets.map((socket) => socket.url)).toEqual(["ws://a", "ws://b", "ws://c"]);
  });

  it("opens on the first URL that answers", async () => {
    const { transport } = harness({ urls: ["ws://a", "ws://b"] });
    const started = transport.start();
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    FakeSocket.last().welcome();
    await started;
    expect(transport.state).toMatchObject({ kind: "open", url: "ws://b" });
  });

  it("does not try the next URL after a refusal that would be the same everywhere (4003)", async () => {
    const { transport } = harness({ urls: ["ws://a", "ws://b"] });
    const started = transport.start();
    FakeSocket.last().open();
    FakeSocket.last().receive({ type: "error", code: ErrorCode.UNAUTHENTICATED, message: "bad token" });
    FakeSocket.last().serverClose(CloseCode.UNAUTHENTICATED);
    await expect(started).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
    expect(FakeSocket.sockets).toHaveLength(1);
  });

  it("moves on to the next URL after a lost connection and after each failed redial, round and round, with backoff", async () => {
    const { transport, clock } = await opened({ urls: ["ws://a", "ws://b", "ws://c"], timing: { backoff: { baseMs: 100, maxMs: 5_000, random: () => ALMOST_ONE } } });
    clock.advance(60_000);
    FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    const waits: number[] = [];
    for (let redial = 0; redial < 4; redial++) {
      const before = clock.now();
      waits.push(timeOfNextDial(clock) - before);
      if (redial < 3) FakeSocket.last().serverClose(LocalCloseCode.ABNORMAL);
    }
    expect(FakeSocket.sockets.map((socket) => socket.url)).toEqual(["ws://a", "ws://b", "ws://c", "ws://a", "ws://b"]);
    expect(waits).toEqual([99, 199, 399, 799]);
    FakeSocket.last().welcome({ resumed: true });
    expect(transport.state).toMatchObject({ kind: "open", url: "ws://b" });
  });
});

describe("Transport: frames", () => {
  it("reads a common reply that arrives in a Node Buffer from the Buffer itself, whose latin1 slice cuts its strings", async () => {
    const { transport, messages } = await opened();
    const frame = Buffer.from(encode({ type: "reply", id: 3, result: { entry: { value: "v".repeat(100), revision: 2 } } }));
    const sliced = vi.spyOn(Buffer.prototype, "latin1Slice");
    FakeSocket.last().onmessage?.({ data: frame });
    expect(sliced.mock.contexts).toContain(frame);
    sliced.mockRestore();
    expect(messages).toEqual([{ type: "reply", id: 3, result: { entry: { value: "v".repeat(100), revision: 2 } } }]);
    expect(transport.isOpen).toBe(true);
  });

  it("gives a socket without the direct path (a browser's, ws compressing) a copy of each request of its own, which the next encode leaves as it was", async () => {
    const { transport } = await opened();
    const socket = FakeSocket.last();
    // As ws's send when it compresses (later) or a WebSocket that queues: it keeps what it was given.
    const kept: Uint8Array[] = [];
    socket.send = (data) => void kept.push(data);
    transport.send({ op: "kv.get", id: 1, key: "first" });
    transport.send({ op: "kv.put", id: 2, key: "second", value: "v" });
    expect(kept.map((data) => decode(data))).toEqual([
      { op: "kv.get", id: 1, key: "first" },
      { op: "kv.put", id: 2, key: "second", value: "v" },
    ]);
  });

  it("still delivers binary values as plain Uint8Arrays, as browsers do, when the frame came in a Node Buffer", async () => {
    const { messages } = await opened();
    FakeSocket.last().onmessage?.({ data: Buffer.from(encode({ type: "reply", id: 3, result: { entry: { value: Uint8Array.of(1, 2), revision: 2 } } })) });
    const value = (messages[0] as unknown as { result: { entry: { value: Uint8Array } } }).result.entry.value;
    expect(value.constructor).toBe(Uint8Array);
    expect([...value]).toEqual([1, 2]);
  });
});

interface HarnessOptions {
  urls?: string[];
  reconnect?: boolean;
  timing?: Partial<TransportTiming>;
  maxReconnectDelay?: number;
}

/** A transport over FakeSockets on a FakeClock, recording what it tells its owner. */
function harness(options: HarnessOptions = {}) {
  const clock = new FakeClock(0);
  const states: ConnectionState[] = [];
  const downs: { code: number; final: boolean }[] = [];
  const messages: ServerMessage[] = [];
  const events: TransportEvents = {
    hello: () => ({ op: "hello", version: PROTOCOL_VERSION }),
    welcomed: () => {},
    message: (message) => messages.push(message),
    down: (code, _reason, final) => downs.push({ code, final }),
    linkFailed: () => {},
    maxReconnectDelay: () => options.maxReconnectDelay ?? Number.POSITIVE_INFINITY,
    stateChanged: (state) => states.push(state),
  };
  const transport = new Transport(
    { urls: options.urls ?? ["ws://a"], WebSocketImpl: FakeSocket, clock, reconnect: options.reconnect ?? true, timing: options.timing },
    events,
  );
  return { transport, clock, states, downs, messages };
}

/** A harness whose transport is open on its first URL with the given heartbeat. */
async function opened(options: HarnessOptions & { heartbeat?: number } = {}) {
  const made = harness(options);
  const started = made.transport.start();
  FakeSocket.last().welcome({ heartbeat: options.heartbeat ?? 60_000 });
  await started;
  return made;
}

/** Runs the clock 1 ms at a time until a new socket is made; returns the time it was made. */
function timeOfNextDial(clock: FakeClock): number {
  const before = FakeSocket.sockets.length;
  for (let waited = 0; FakeSocket.sockets.length === before; waited++) {
    if (waited > 60_000) throw new Error("no redial within 60 s");
    clock.advance(1);
  }
  return clock.now();
}
