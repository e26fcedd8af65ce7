import { describe, expect, it } from "vitest";
import { HEARTBEAT_DEFAULTS, heartbeatInterval, heartbeatIntervalOfShortest } from "./heartbeat.js";

describe("heartbeatInterval", () => {
  // [case, longest interval, kept-alive TTLs, interval]
  const cases: [string, number, number[], number][] = [
    ["no kept-alive lease: the longest interval", 3_333, [], 3_333],
    ["a long TTL does not lengthen it", 3_333, [60_000], 3_333],
    ["a quarter of a short TTL", 3_333, [3_000], 750],
    ["the shortest of several TTLs wins, in any order", 5_000, [9_000, 1_500, 6_000], 375],
    ["a quarter is rounded down, so that pings are never late", 5_000, [1_001], 250],
    ["never below the floor, however short the TTL", 5_000, [90], HEARTBEAT_DEFAULTS.minHeartbeatMs],
    ["the floor also holds for a tiny longest interval", 10, [], HEARTBEAT_DEFAULTS.minHeartbeatMs],
    ["exactly at the floor", 5_000, [200], 50],
  ];
  for (const [label, longestMs, ttls, expected] of cases) {
    it(label, () => {
      expect(heartbeatInterval(longestMs, ttls)).toBe(expected);
      // What the server computes for every ping: the same interval from the shortest TTL alone.
      expect(heartbeatIntervalOfShortest(longestMs, Math.min(Number.POSITIVE_INFINITY, ...ttls))).toBe(expected);
    });
  }

  it("reads its TTLs from any iterable, once (a generator over a session's leases)", () => {
    function* ttls() {
      yield 30_000;
      yield 2_400;
    }
    expect(heartbeatInterval(HEARTBEAT_DEFAULTS.heartbeatMs, ttls())).toBe(600);
  });
});
