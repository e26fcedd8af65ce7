import { DEFAULT_LIMITS, FakeClock } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { Account } from "../core/accounts.js";
import { Session } from "../core/model.js";
import { Heartbeats, PING_GRID_MS, nextPingAt, type Beating } from "./heartbeat.js";

/** A connection's heartbeat that records when each of its pings went. */
function beating(name: string, clock: FakeClock, sent: number[]): Beating {
  const session = new Session(name, "secret", clock.now(), "127.0.0.1:1", undefined, new Account("test", DEFAULT_LIMITS), undefined, clock.wallNow());
  return { session, detached: false, dueAt: Number.POSITIVE_INFINITY, dueIndex: -1, dueSeq: 0, ping: () => sent.push(clock.now()) };
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
});
