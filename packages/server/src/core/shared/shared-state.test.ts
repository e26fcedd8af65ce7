import { ErrorCode } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { ANONYMOUS } from "../../auth/permissions.js";
import { sessionOwner } from "../../auth/session-owner.js";
import { keyBytes } from "../accounts.js";
import { Coordinator } from "../coordinator.js";
import { resolveOptions } from "../../options.js";

describe("SharedState: key accounting", () => {
  it("an overwrite by the key's owner moves only its bytes; one by another principal moves the key to it; a delete gives all back", () => {
    const coordinator = new Coordinator(resolveOptions({}));
    const alice = coordinator.openSession("test:alice", "alice", sessionOwner(ANONYMOUS, "test:alice"));
    const bob = coordinator.openSession("test:bob", "bob", sessionOwner(ANONYMOUS, "test:bob"));
    const { accounts } = coordinator;
    const put = (session: typeof alice, value: string) => coordinator.shared.put(session, { key: "k", value });
    // A string of n < 32 ASCII characters is n + 1 bytes of msgpack; the entry counts its key's length too.
    const stored = (value: string) => keyBytes("k".length + value.length + 1);

    put(alice, "short");
    put(alice, "a longer value");
    expect({ keys: alice.account.keys, bytes: alice.account.bytes, total: accounts.totalBytes }).toEqual({ keys: 1, bytes: stored("a longer value"), total: stored("a longer value") });
    put(alice, "mid");
    expect({ keys: alice.account.keys, bytes: alice.account.bytes, total: accounts.totalBytes }).toEqual({ keys: 1, bytes: stored("mid"), total: stored("mid") });

    put(bob, "bob's");
    expect({ alice: alice.account.keys, aliceBytes: alice.account.bytes, bob: bob.account.keys, bobBytes: bob.account.bytes, total: accounts.totalBytes }).toEqual({
      alice: 0,
      aliceBytes: 0,
      bob: 1,
      bobBytes: stored("bob's"),
      total: stored("bob's"),
    });

    coordinator.shared.delete({ key: "k" });
    expect({ bob: bob.account.keys, bobBytes: bob.account.bytes, total: accounts.totalBytes }).toEqual({ bob: 0, bobBytes: 0, total: 0 });
  });
});

describe("SharedState: a put's value in the watch history", () => {
  it("a put refused for its size leaves no change in the history, and the next put's value is read back as it was put", () => {
    const coordinator = new Coordinator(resolveOptions({ limits: { maxBytesPerPrincipal: 1_000 } }));
    const alice = coordinator.openSession("test:alice", "alice", sessionOwner(ANONYMOUS, "test:alice"));
    const { history } = coordinator.shared.watches;
    coordinator.shared.put(alice, { key: "a", value: "first" });
    // Sized (and staged) before the quota refuses it: nothing of it may be recorded.
    expect(() => coordinator.shared.put(alice, { key: "b", value: "x".repeat(2_000) })).toThrow(expect.objectContaining({ code: ErrorCode.QUOTA_EXCEEDED }) as Error);
    coordinator.shared.put(alice, { key: "c", value: "third" });
    expect(history.read(1, "", 10, 1_000_000).events.map(({ key, value }) => ({ key, value }))).toEqual([
      { key: "a", value: "first" },
      { key: "c", value: "third" },
    ]);
  });
});
