import { describe, expect, test } from "vitest";
import { harnessFor } from "../shared-state/fixtures/harness.js";
import type { Target } from "../support/target.js";

/** The counter scenarios: test/shared-state/counters.test.ts runs them against one server, test/cluster/e2e-shared-state.test.ts against a cluster. */
export function describeCounters(target: Target): void {
  const harness = harnessFor(target);
  describe(`counters (${target.name})`, () => {
    test("10 clients x 100 concurrent increments add up exactly, each value handed out once", async () => {
      const server = await harness.server();
      const clients = await harness.clients(server, 10);
      const seen = await Promise.all(
        clients.map((client) => Promise.all(Array.from({ length: 100 }, () => client.counters.increment("visits", 1)))),
      );
      expect(await clients[0]!.counters.get("visits")).toBe(1_000);
      // Atomic: every increment saw a distinct value, so together they are exactly 1..1000.
      expect(seen.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 1_000 }, (_, index) => index + 1));
    });

    test("get reads 0 when never set; set, negative deltas, decrement and compare-and-set", async () => {
      const server = await harness.server();
      const [a, b] = await harness.clients(server, 2);
      expect(await a!.counters.get("never")).toBe(0);
      await a!.counters.set("visits", 10);
      expect(await b!.counters.compareAndSet("visits", 10, 11)).toBe(true);
      expect(await a!.counters.compareAndSet("visits", 10, 12)).toBe(false);
      expect(await a!.counters.get("visits")).toBe(11);
      expect(await a!.counters.increment("visits", -20)).toBe(-9);
      expect(await a!.counters.decrement("visits")).toBe(-10);
      // compare-and-set on a counter never set compares against 0.
      expect(await b!.counters.compareAndSet("fresh", 0, 5)).toBe(true);
      expect(await b!.counters.get("fresh")).toBe(5);
    });

    test("concurrent compare-and-set: exactly one winner per round", async () => {
      const server = await harness.server();
      const clients = await harness.clients(server, 8);
      for (let round = 0; round < 20; round++) {
        const wins = await Promise.all(clients.map((client) => client.counters.compareAndSet("round", round, round + 1)));
        expect(wins.filter(Boolean)).toHaveLength(1);
      }
      expect(await clients[0]!.counters.get("round")).toBe(20);
    });
  });
}
