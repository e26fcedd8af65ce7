import { describe, expect, it } from "vitest";
import { decode, encode } from "./codec.js";
import { acceptReply } from "./reply-fast-path.js";
import { ServerMessage } from "./server-messages.js";

/** As the client sees it: encoded by our codec, decoded by msgpackr. */
const asReceived = (message: unknown): unknown => decode(encode(message));

const CANDIDATES: unknown[] = [undefined, null, true, 0, -1, 1, 2.5, 2 ** 53, "reply", "error", "1", [], [1], {}, { acquired: true, token: 3 }, Uint8Array.of(1)];

describe("the fast path of a reply's envelope", () => {
  it("takes a well-formed reply as it is", () => {
    const reply = asReceived({ type: "reply", id: 9, result: { acquired: true, token: 3 } });
    expect(acceptReply(reply)).toBe(reply);
  });

  it("accepts nothing the schema refuses, and returns what the schema returns", () => {
    let accepted = 0;
    let checked = 0;
    const base: Record<string, unknown> = { type: "reply", id: 9, result: { released: true } };
    for (const field of ["type", "id", "result", "extra"]) {
      for (const candidate of CANDIDATES) {
        const changed = { ...base };
        if (candidate === undefined) delete changed[field];
        else changed[field] = candidate;
        const received = asReceived(changed);
        checked++;
        const fast = acceptReply(received);
        if (fast === undefined) continue;
        accepted++;
        const parsed = ServerMessage.safeParse(received);
        expect(parsed.success, JSON.stringify(changed)).toBe(true);
        expect(fast).toStrictEqual(parsed.data);
      }
    }
    expect(accepted).toBeGreaterThan(3);
    expect(checked - accepted).toBeGreaterThan(40);
    // Other messages are left to the schema.
    expect(acceptReply(asReceived({ type: "error", id: 9, code: 1, message: "m" }))).toBeUndefined();
  });
});
