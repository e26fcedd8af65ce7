import { describe, expect, it } from "vitest";
import { PendingTable } from "./pending-table.js";

const entry = (id: number) => ({ id });

describe("PendingTable", () => {
  it("finds and takes the newest entry and older ones, each once", () => {
    const table = new PendingTable<{ id: number }>();
    const [one, two, three] = [entry(1), entry(2), entry(3)];
    table.add(one);
    table.add(two);
    table.add(three);
    expect(table.get(3)).toBe(three);
    expect(table.get(1)).toBe(one);
    expect(table.take(3)).toBe(three);
    expect(table.take(3)).toBeUndefined();
    expect(table.get(3)).toBeUndefined();
    expect(table.take(1)).toBe(one);
    expect(table.take(1)).toBeUndefined();
    expect(table.values()).toEqual([two]);
    expect(table.take(2)).toBe(two);
    expect(table.values()).toEqual([]);
  });

  it("lists its entries in id order, the newest last, whichever were taken", () => {
    const table = new PendingTable<{ id: number }>();
    for (const id of [1, 2, 3, 4, 5]) table.add(entry(id));
    table.take(2);
    table.take(5);
    expect(table.values().map(({ id }) => id)).toEqual([1, 3, 4]);
    table.add(entry(6));
    table.add(entry(7));
    expect(table.values().map(({ id }) => id)).toEqual([1, 3, 4, 6, 7]);
    table.clear();
    expect(table.values()).toEqual([]);
    expect(table.get(7)).toBeUndefined();
  });

  it("gives a copy to walk: taking entries while walking misses none", () => {
    const table = new PendingTable<{ id: number }>();
    for (const id of [1, 2, 3]) table.add(entry(id));
    const seen: number[] = [];
    for (const { id } of table.values()) {
      seen.push(id);
      table.take(id);
    }
    expect(seen).toEqual([1, 2, 3]);
    expect(table.values()).toEqual([]);
  });
});
