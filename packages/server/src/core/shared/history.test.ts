import { describe, expect, it } from "vitest";
import type { Value } from "@leasehold/protocol";
import { History } from "./history.js";

const put = (key: string, revision: number) => ({ type: "put" as const, key, value: revision, revision });
const append = (history: History, event: ReturnType<typeof put>, bytes: number) => history.append(event.key, event.value, event.revision, bytes);

describe("History", () => {
  it("records a staged value once appended, and a staged value never appended not at all", () => {
    const history = new History({ events: 100, bytes: 1_000_000 });
    expect(history.stage("v".repeat(100))).toBe(102);
    history.appendStaged("a", 1, 103);
    // A put refused after its value was staged: the next stage takes its place.
    history.stage({ refused: true });
    expect(history.stage(7)).toBe(1);
    history.appendStaged("b", 2, 2);
    history.append("c", "appended", 3, 10);
    expect(history.read(1, "", 10, 1_000_000).events).toEqual([
      { type: "put", key: "a", value: "v".repeat(100), revision: 1 },
      { type: "put", key: "b", value: 7, revision: 2 },
      { type: "put", key: "c", value: "appended", revision: 3 },
    ]);
  });

  it("refuses to record a staged put when no value was staged", () => {
    const history = new History({ events: 100, bytes: 1_000_000 });
    expect(() => history.appendStaged("a", 1, 10)).toThrow(/staged/);
    history.append("a", 1, 1, 10);
    expect(() => history.appendStaged("b", 2, 10)).toThrow(/staged/);
  });

  it("reads matching events from a revision on, moving past the ones that do not match", () => {
    const history = new History({ events: 100, bytes: 1_000_000 });
    append(history, put("a:1", 1), 10);
    append(history, put("b:1", 3), 10);
    append(history, put("a:2", 7), 10);
    expect(history.read(1, "a:", 10, 1_000)).toEqual({ events: [put("a:1", 1), put("a:2", 7)], next: 8 });
    expect(history.read(2, "a:", 10, 1_000)).toEqual({ events: [put("a:2", 7)], next: 8 });
    expect(history.read(8, "", 10, 1_000)).toEqual({ events: [], next: 8 });
    // Batches stop at the event limit and resume where they stopped.
    expect(history.read(1, "", 2, 1_000)).toEqual({ events: [put("a:1", 1), put("b:1", 3)], next: 4 });
  });

  it("evicts the oldest events past its count or byte limit and remembers how far it compacted", () => {
    const history = new History({ events: 3, bytes: 100 });
    for (let revision = 1; revision <= 5; revision++) append(history, put("k", revision), 10);
    expect(history.size).toBe(3);
    expect(history.compactedThrough).toBe(2);
    append(history, put("k", 6), 85);
    expect(history.size).toBe(2);
    expect(history.compactedThrough).toBe(4);
    expect(history.read(1, "", 10, 1_000).events.map((event) => event.revision)).toEqual([5, 6]);
  });

  it("keeps a copy of each value, of every kind and size, and reads deletes back as deletes", () => {
    const history = new History({ events: 100, bytes: Number.MAX_SAFE_INTEGER });
    const nested: Value = { list: [1, -2.5, "é", null, true], bytes: new Uint8Array([0, 255]) };
    const values: Value[] = ["v".repeat(100), nested, 2 ** 40, "x".repeat(70_000), false];
    values.forEach((value, index) => history.append(`k${index}`, value, index + 1, 10));
    history.append("k0", undefined, 6, 10);
    // A value changed after it was recorded is not what the history replays: it holds the bytes as they were.
    (nested.list as Value[]).push("later");
    const events = history.read(1, "", 10, Number.MAX_SAFE_INTEGER).events;
    expect(events.slice(0, 5).map((event) => event.value)).toEqual(["v".repeat(100), { list: [1, -2.5, "é", null, true], bytes: new Uint8Array([0, 255]) }, 2 ** 40, "x".repeat(70_000), false]);
    expect(events[5]).toEqual({ type: "delete", key: "k0", revision: 6 });
  });

  it("grows its ring as needed, keeping order across the wrap", () => {
    const history = new History({ events: 5_000, bytes: Number.MAX_SAFE_INTEGER });
    for (let revision = 1; revision <= 6_000; revision++) append(history, put("k", revision * 2), 1);
    const all = history.read(0, "", 10_000, Number.MAX_SAFE_INTEGER).events.map((event) => event.revision);
    expect(all).toHaveLength(5_000);
    expect(all[0]).toBe(2_002);
    expect(all.every((revision, index) => index === 0 || revision === (all[index - 1] as number) + 2)).toBe(true);
    expect(history.read(3_001, "", 1, 1).events[0]?.revision).toBe(3_002);
  });
});
