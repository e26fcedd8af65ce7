import { describe, expect, it } from "vitest";
import type { Value } from "@leasehold/protocol";
import { History } from "./history.js";

const put = (key: string, revision: number) => ({ type: "put" as const, key, value: revision, revision });
const append = (history: History, event: ReturnType<typeof put>, bytes: number) => history.append(event.key, event.value, event.revision, bytes);

describe("History", () => {
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
