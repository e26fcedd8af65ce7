import { describe, expect, it, vi } from "vitest";
import { Feed } from "./feed.js";

describe("Feed", () => {
  it("hands queued items to the reader, then the end", async () => {
    const feed = new Feed<number>(10, () => {});
    feed.push(1);
    const pending = feed.next();
    feed.push(2);
    feed.end();
    expect(await pending).toEqual({ value: 1, done: false });
    expect(await feed.next()).toEqual({ value: 2, done: false });
    expect(await feed.next()).toEqual({ value: undefined, done: true });
  });

  it("throws its error once, after the items already queued", async () => {
    const feed = new Feed<number>(10, () => {});
    feed.push(1);
    feed.end(new Error("gone"));
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const item of feed) seen.push(item);
      })(),
    ).rejects.toThrow("gone");
    expect(seen).toEqual([1]);
    expect(await feed.next()).toEqual({ value: undefined, done: true });
  });

  it("refuses an item past its capacity, and tells its owner when the reader breaks off", async () => {
    const onReturn = vi.fn();
    const feed = new Feed<number>(2, onReturn);
    expect([feed.push(1), feed.push(2), feed.push(3)]).toEqual([true, true, false]);
    for await (const item of feed) if (item === 1) break;
    expect(onReturn).toHaveBeenCalledTimes(1);
  });
});
