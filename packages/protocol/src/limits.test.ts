import { describe, expect, it } from "vitest";
import { encode } from "./codec.js";
import { scanFrame } from "./frame-scan.js";
import { BOUNDS, DEFAULT_LIMITS, clientSafetyMarginMs } from "./limits.js";
import { storedValueProblem } from "./values.js";

describe("BOUNDS", () => {
  it("leaves room in a frame for a stored value at its deepest, so that a value one level deeper is an ordinary refusal", () => {
    let deepest: unknown = 1;
    for (let level = 0; level < BOUNDS.maxValueDepth; level++) deepest = [deepest];
    expect(storedValueProblem(deepest)).toBeUndefined();
    // Messages that carry values: a watch event and a kv.list page (the value 4 and 5 levels down), and a request one level too deep.
    const carriers = [
      { type: "watch.events", watch: 1, events: [{ type: "put", key: "k", value: deepest, revision: 1 }] },
      { type: "reply", id: 1, result: { items: [{ key: "k", value: deepest, revision: 1 }], revision: 1 } },
      { op: "kv.put", id: 1, key: "k", value: [deepest] },
    ];
    for (const message of carriers) expect(scanFrame(encode(message)).readable).toBe(true);
  });

  it("keeps every duration a timer must hold under the largest delay a timer can hold", () => {
    expect(DEFAULT_LIMITS.maxTtlMs).toBeLessThanOrEqual(BOUNDS.maxDelayMs);
    expect(DEFAULT_LIMITS.maxWaitMs).toBeLessThanOrEqual(BOUNDS.maxDelayMs);
  });
});

describe("DEFAULT_LIMITS", () => {
  it("are positive safe integers (what welcome.limits can carry)", () => {
    for (const [name, value] of Object.entries(DEFAULT_LIMITS)) {
      expect(Number.isSafeInteger(value) && value > 0, name).toBe(true);
    }
  });

  it("reserve at most a tenth of the sessions for admins, and allow the TTLs they accept", () => {
    expect(DEFAULT_LIMITS.adminReservedSessions).toBeLessThanOrEqual(DEFAULT_LIMITS.maxSessions / 10);
    expect(DEFAULT_LIMITS.minTtlMs).toBeLessThanOrEqual(DEFAULT_LIMITS.maxTtlMs);
  });
});

describe("clientSafetyMarginMs", () => {
  // [TTL, margin]: 5% of the TTL, at least 20 ms, at most 1 s.
  const cases: [number, number][] = [
    [100, 20],
    [400, 20],
    [1_000, 50],
    [3_000, 150],
    [10_010, 501],
    [20_000, 1_000],
    [86_400_000, 1_000],
  ];
  for (const [ttl, margin] of cases) {
    it(`is ${margin} ms for a ${ttl} ms TTL`, () => expect(clientSafetyMarginMs(ttl)).toBe(margin));
  }
});
