import { isDeepStrictEqual } from "node:util";
import { DEFAULT_LIMITS, FakeClock, type Timer } from "@leasehold/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { propertyRuns } from "../../../../test/support/property-runs.js";
import { Account } from "../core/accounts.js";
import { Session } from "../core/model.js";
import { Heartbeats, PING_GRID_MS, nextPingAt, type Beating } from "./heartbeat.js";

/** A connection's heartbeat that records when each of its pings went. */
function beating(name: string, clock: FakeClock, sent: number[]): Beating {
  const session = new Session(name, "secret", clock.now(), "127.0.0.1:1", undefined, new Account("test", DEFAULT_LIMITS), undefined, clock.wallNow());
  return { session, detached: false, pingAt: Number.POSITIVE_INFINITY, pingLane: undefined, pingPrev: undefined, pingNext: undefined, ping: () => sent.push(clock.now()) };
}

describe("heartbeats", () => {
  it("sessions that started at different moments are pinged in the same timer runs, each ping one interval after the last or at most a grid step later", () => {
    const clock = new FakeClock(1_000.25);
    const interval = 3_333;
    const heartbeats = new Heartbeats(clock, () => interval);
    const sent: number[][] = [];
    // Ten sessions attached 0.7 ms apart (a server taking 1,400 sessions a second).
    for (let index = 0; index < 10; index++) {
      sent.push([]);
      heartbeats.restart(beating(`s${index}`, clock, sent[index]!));
      clock.advance(0.7);
    }
    clock.advance(4 * interval + 100);
    // All ten sessions' pings in the same timer runs: 4 moments for the 40 pings, and one clock timer pending.
    expect(new Set(sent.flat()).size).toBe(4);
    expect(clock.pending).toBe(1);
    for (const [index, times] of sent.entries()) {
      expect(times).toHaveLength(4);
      let previous = 1_000.25 + index * 0.7;
      for (const at of times) {
        expect(at - previous, `session ${index}: never early`).toBeGreaterThanOrEqual(interval);
        expect(at - previous, `session ${index}: late by less than a grid step`).toBeLessThan(interval + PING_GRID_MS);
        previous = at;
      }
    }
    heartbeats.clear();
  });

  it("a short interval keeps to it: the grid is 1 % of the interval, and none below 200 ms", () => {
    expect(nextPingAt(1_000.5, 100)).toBe(1_100.5);
    expect(nextPingAt(1_000.5, 199)).toBe(1_199.5);
    expect(nextPingAt(1_000.5, 400)).toBe(1_404);
    expect(nextPingAt(1_000, 5_000)).toBe(6_000);
    expect(nextPingAt(1_000.01, 5_000)).toBe(6_010);
    for (const interval of [50, 250, 1_000, 2_250, 3_333, 5_000, 60_000]) {
      for (const now of [0, 0.3, 17.9, 123_456.789]) {
        const at = nextPingAt(now, interval);
        expect(at).toBeGreaterThanOrEqual(now + interval);
        expect(at - (now + interval)).toBeLessThan(Math.max(1e-9, Math.min(PING_GRID_MS, interval / 100)));
      }
    }
  });

  it("pings each heartbeat exactly when a clock timer of its own would have, through restarts at other intervals, stops and a clear", () => {
    // Restarts most (lanes of several heartbeats, each left from its head, middle or tail), a clear rarely.
    const op = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant("restart" as const), beating: fc.nat(7), interval: fc.constantFrom(60, 400, 1_000) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("stop" as const), beating: fc.nat(7) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.double({ min: 0, max: 700, noNaN: true }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        // The same script against Heartbeats and against a clock timer per heartbeat at nextPingAt; each
        // heartbeat keeps the interval it was last restarted at.
        const run = (lanes: boolean): string[] => {
          const clock = new FakeClock(0.5);
          const log: string[] = [];
          const intervals = new Map<string, number>();
          const sent = Array.from({ length: 8 }, () => [] as number[]);
          const beatings = sent.map((times, index) => beating(`s${index}`, clock, times));
          const heartbeats = new Heartbeats(clock, (session) => intervals.get(session.id) ?? 1_000);
          const timers = new Map<number, Timer>();
          const timed = (index: number): void => {
            timers.get(index)?.cancel();
            const at = nextPingAt(clock.now(), intervals.get(`s${index}`) ?? 1_000);
            timers.set(index, clock.setTimer(at - clock.now(), () => {
              sent[index]!.push(clock.now());
              timed(index);
            }));
          };
          for (const step of ops) {
            if (step.kind === "restart") {
              intervals.set(`s${step.beating}`, step.interval);
              if (lanes) heartbeats.restart(beatings[step.beating]!);
              else timed(step.beating);
            } else if (step.kind === "stop") {
              if (lanes) heartbeats.stop(beatings[step.beating]!);
              else timers.get(step.beating)?.cancel();
            } else if (step.kind === "clear") {
              if (lanes) heartbeats.clear();
              else for (const timer of timers.values()) timer.cancel();
            } else clock.advance(step.ms);
          }
          clock.advance(2_000);
          if (lanes) expect(clock.pending).toBeLessThanOrEqual(1);
          for (const [index, times] of sent.entries()) log.push(`s${index}: ${times.join(" ")}`);
          heartbeats.clear();
          return log;
        };
        const laned = run(true);
        const timed = run(false);
        if (!isDeepStrictEqual(laned, timed)) expect(laned).toEqual(timed);
      }),
      { numRuns: propertyRuns(100) },
    );
  });
});
