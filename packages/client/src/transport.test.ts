import { CloseCode, DEFAULT_LIMITS, FakeClock, PROTOCOL_VERSION, encode } from "@leasehold/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Transport, type WebSocketLike } from "./transport.js";

/**
 * A server that welcomes every connection and cuts it off soon after, as one does with close 4008 (a
 * session past its rate), 4005 or 4007: the connection opens, so the dial succeeded, but it does not
 * stay up. The backoff must go on growing across such connections rather than restart from the first
 * attempt at each welcome, or the client redials about five times a second for ever.
 */
class CutSoonAfterWelcome implements WebSocketLike {
  static readonly opened: CutSoonAfterWelcome[] = [];
  binaryType = "nodebuffer";
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {
    CutSoonAfterWelcome.opened.push(this);
  }

  send(): void {}

  close(): void {
    this.readyState = 3;
  }

  /** Opens, answers the hello with a welcome, then closes with `code`. */
  welcomeThenClose(code: number): void {
    this.readyState = 1;
    this.onopen?.({});
    const welcome = { type: "welcome", version: PROTOCOL_VERSION, session: "s", secret: "x", resumed: false, heartbeat: 5_000, limits: DEFAULT_LIMITS };
    this.onmessage?.({ data: encode(welcome) });
    this.readyState = 3;
    this.onclose?.({ code, reason: "cut off" });
  }
}

/** A transport to the fake server that reconnects without a cap on its wait; `down` sees each close code. */
function reconnectingTransport(clock: FakeClock, down: (code: number) => void = () => {}): Transport {
  const events = {
    hello: () => ({ op: "hello", version: PROTOCOL_VERSION }) as const,
    welcomed: () => {},
    message: () => {},
    down,
    linkFailed: () => {},
    maxReconnectDelay: () => Number.POSITIVE_INFINITY,
  };
  return new Transport("ws://test", CutSoonAfterWelcome, clock, events, true);
}

afterEach(() => {
  vi.restoreAllMocks();
  CutSoonAfterWelcome.opened.length = 0;
});

describe("Transport reconnect backoff", () => {
  it("keeps growing across connections that are welcomed and cut off before they are stable (4008)", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1 - Number.EPSILON / 2);
    const clock = new FakeClock(0);
    const downs: number[] = [];
    const transport = reconnectingTransport(clock, (code) => downs.push(code));
    const started = transport.start();
    const dialedAt: number[] = [];
    for (let round = 0; round < 8; round++) {
      const socket = CutSoonAfterWelcome.opened.at(-1)!;
      dialedAt.push(clock.now());
      socket.welcomeThenClose(CloseCode.RATE_LIMITED);
      if (round === 0) await started;
      // The redial is due within the backoff's cap; run the clock to it.
      const before = CutSoonAfterWelcome.opened.length;
      // A plain check, not expect(): this loop runs some 16,000 times, and expect() made it take a second.
      for (let waited = 0; CutSoonAfterWelcome.opened.length === before; waited++) {
        if (waited >= 10_000) throw new Error(`no redial within 10 s of round ${round}`);
        clock.advance(1);
      }
    }
    transport.close();
    const gaps = dialedAt.slice(1).map((at, index) => at - dialedAt[index]!);
    // The full-jitter cap doubles from 200 ms up to 5 s: 199, 399, 799, 1,599, 3,199, 4,999, 4,999
    // (before, each welcome restarted it: 199 ms every time).
    expect(gaps).toEqual([199, 399, 799, 1_599, 3_199, 4_999, 4_999]);
    expect(downs).toEqual(Array.from({ length: 8 }, () => CloseCode.RATE_LIMITED));
  });

  it("starts again from the first attempt once a connection has stayed up", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1 - Number.EPSILON / 2);
    const clock = new FakeClock(0);
    const transport = reconnectingTransport(clock);
    const started = transport.start();
    CutSoonAfterWelcome.opened.at(-1)!.welcomeThenClose(CloseCode.RATE_LIMITED);
    await started;
    clock.advance(199);
    CutSoonAfterWelcome.opened.at(-1)!.welcomeThenClose(CloseCode.RATE_LIMITED);
    clock.advance(399);
    expect(CutSoonAfterWelcome.opened).toHaveLength(3);
    // This one stays up past the stable time, then drops: the next wait is the first attempt's again.
    const stable = CutSoonAfterWelcome.opened.at(-1)!;
    stable.readyState = 1;
    stable.onopen?.({});
    stable.onmessage?.({ data: encode({ type: "welcome", version: PROTOCOL_VERSION, session: "s", secret: "x", resumed: false, heartbeat: 60_000, limits: DEFAULT_LIMITS }) });
    clock.advance(6_000);
    stable.onclose?.({ code: 1006, reason: "network" });
    clock.advance(98);
    expect(CutSoonAfterWelcome.opened).toHaveLength(3);
    clock.advance(1);
    expect(CutSoonAfterWelcome.opened).toHaveLength(4);
    transport.close();
  });
});
