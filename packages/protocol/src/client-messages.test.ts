import { describe, expect, it } from "vitest";
import { CLIENT_OPS, ClientMessage, Hello, LockAcquire } from "./client-messages.js";

describe("ClientMessage", () => {
  it("lists every op once in CLIENT_OPS, hello and pong included", () => {
    expect(new Set(CLIENT_OPS).size).toBe(CLIENT_OPS.length);
    expect(CLIENT_OPS).toEqual(expect.arrayContaining(["hello", "pong", "bye", "lease.grant", "lock.acquire", "kv.put", "admin.subscribe"]));
    expect(CLIENT_OPS).toEqual(ClientMessage.def.options.map((option) => option.shape.op.def.values[0]));
  });

  it("needs a request id on every request, and none on hello and pong", () => {
    for (const op of CLIENT_OPS) {
      if (op === "hello" || op === "pong") continue;
      expect(ClientMessage.safeParse({ op }).success, op).toBe(false);
    }
    expect(ClientMessage.safeParse({ op: "bye", id: 1 }).success).toBe(true);
    expect(ClientMessage.safeParse({ op: "pong", seq: 0 }).success).toBe(true);
  });

  it("bounds what a hello carries before anyone is authenticated", () => {
    // [field, longest accepted]
    const bounds: [string, number, (text: string) => unknown][] = [
      ["resume.session", 64, (text) => ({ resume: { session: text, secret: "s" } })],
      ["resume.secret", 128, (text) => ({ resume: { session: "s", secret: text } })],
      ["auth", 8_192, (text) => ({ auth: text })],
      ["agent", 128, (text) => ({ agent: text })],
    ];
    for (const [field, longest, fill] of bounds) {
      const hello = (length: number) => Hello.safeParse({ op: "hello", version: 1, ...(fill("x".repeat(length)) as object) }).success;
      expect(hello(longest), field).toBe(true);
      expect(hello(longest + 1), field).toBe(false);
    }
  });

  it("takes `wait` as true or a number of ms, never false", () => {
    const acquire = (wait: unknown) => LockAcquire.safeParse({ op: "lock.acquire", id: 1, name: "n", lease: 1, wait }).success;
    expect([acquire(true), acquire(0), acquire(5_000), acquire(undefined)]).toEqual([true, true, true, true]);
    expect([acquire(false), acquire(-1), acquire("5s")]).toEqual([false, false, false]);
  });
});
