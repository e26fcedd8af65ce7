import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "@leasehold/protocol";
import { Account } from "../accounts.js";
import { KvStore, type KvEntry } from "./kv-store.js";

const owner = new Account("test", DEFAULT_LIMITS);
// The store files entries under the key it is given; an entry's own `key` is for shared state and its history.
const entry = (revision: number, bytes = 1): KvEntry => ({ key: "", value: revision, revision, lease: undefined, bytes, owner });

describe("KvStore", () => {
  it("pages a prefix in key order and resumes after the last key of a page", () => {
    const store = new KvStore();
    for (const key of ["b:2", "a", "b:1", "b:10", "c", "b", "b:3"]) store.set(key, entry(1));
    expect(store.page("b:", undefined, 2, 1_000)).toMatchObject({ items: [{ key: "b:1" }, { key: "b:10" }], next: "b:10" });
    expect(store.page("b:", "b:10", 2, 1_000)).toMatchObject({ items: [{ key: "b:2" }, { key: "b:3" }], next: undefined });
    expect(store.page("", undefined, 100, 1_000).items.map((item) => item.key)).toEqual(["a", "b", "b:1", "b:10", "b:2", "b:3", "c"]);
    // `after` before the prefix starts at the prefix; after its end, there is nothing.
    expect(store.page("b:", "a", 1, 1_000).items.map((item) => item.key)).toEqual(["b:1"]);
    expect(store.page("b:", "b;", 10, 1_000).items).toEqual([]);
  });

  it("keeps the order through overwrites and deletes, and ends a page early past its byte budget", () => {
    const store = new KvStore();
    store.set("k2", entry(1, 600));
    store.set("k1", entry(2, 600));
    store.set("k1", entry(3, 600));
    store.set("k3", entry(4, 600));
    expect(store.delete("k2")).toBe(true);
    expect(store.delete("k2")).toBe(false);
    expect(store.size).toBe(2);
    expect(store.page("k", undefined, 10, 1_000)).toMatchObject({ items: [{ key: "k1", entry: { revision: 3 } }, { key: "k3" }], next: undefined });
    expect(store.page("k", undefined, 10, 100)).toMatchObject({ items: [{ key: "k1" }], next: "k1" });
  });
});
