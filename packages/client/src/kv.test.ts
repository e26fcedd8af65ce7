import { ErrorCode, type ClientMessage } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { Calls } from "./calls.js";
import { BadRequestError } from "./errors.js";
import { KeyValue } from "./kv.js";
import { Subscriptions } from "./subscriptions.js";

/** A request table whose requests are kept instead of sent, and a KeyValue over it. */
function keyValue(): { kv: KeyValue; calls: Calls; sent: ClientMessage[] } {
  const sent: ClientMessage[] = [];
  const calls = new Calls({ send: (message) => sent.push(message) > 0, now: () => 0, heardAt: () => {} });
  return { kv: new KeyValue(calls, undefined as unknown as Subscriptions), calls, sent };
}

describe("KeyValue.put", () => {
  it("refuses a value that cannot be stored with a rejection, never a throw, and sends nothing", async () => {
    const { kv, sent } = keyValue();
    let put: Promise<unknown> | undefined;
    expect(() => (put = kv.put("k", Number.NaN))).not.toThrow();
    await expect(put).rejects.toThrow(BadRequestError);
    await expect(kv.put("k", new Date() as never)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    expect(sent).toEqual([]);
  });

  it("sends the plain request, without the options left out, and resolves with the reply's revision", async () => {
    const { kv, calls, sent } = keyValue();
    const put = kv.put("k", "value");
    expect(sent).toEqual([{ op: "kv.put", id: 1, key: "k", value: "value" }]);
    calls.settleReply(1, { revision: 7 });
    expect(await put).toEqual({ revision: 7 });
    // A malformed result is a rejection too.
    const bad = kv.put("k", "value", { ifRevision: 7 });
    calls.settleReply(2, { revision: "seven" });
    await expect(bad).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
  });
});
