import { describe, expect, it } from "vitest";
import { ErrorCode, decodeServerMessage, encode } from "@leasehold/protocol";
import { EncodedRefusals } from "./encoded-refusals.js";

describe("EncodedRefusals", () => {
  it("encodes a refusal as encode does, once for all its repeats, and anew when any part differs", () => {
    const refusals = new EncodedRefusals();
    const text = refusals.staleText(1, 1);
    const first = refusals.encoded(1, ErrorCode.BAD_REQUEST, text);
    expect(first).toEqual(encode({ type: "error", id: 1, code: ErrorCode.BAD_REQUEST, message: text }));
    expect(decodeServerMessage(first)).toMatchObject({ ok: true, message: { type: "error", id: 1, code: ErrorCode.BAD_REQUEST } });
    // A flood's repeats: the same bytes, not encoded again.
    expect(refusals.encoded(1, ErrorCode.BAD_REQUEST, refusals.staleText(1, 1))).toBe(first);
    // Whatever differs is encoded as it is: the id, the code, the text (by content, not by pointer).
    const cases: [number | undefined, ErrorCode, string][] = [
      [2, ErrorCode.BAD_REQUEST, text],
      [undefined, ErrorCode.BAD_REQUEST, text],
      [1, ErrorCode.RATE_LIMITED, text],
      [1, ErrorCode.BAD_REQUEST, refusals.staleText(1, 2)],
      [1, ErrorCode.BAD_REQUEST, `${text.slice(0, 10)}${text.slice(10)}`],
    ];
    for (const [id, code, message] of cases) {
      expect(refusals.encoded(id, code, message)).toEqual(encode({ type: "error", id, code, message }));
    }
  });

  it("names the ids of a stale request in its text, the same string while they stay the same", () => {
    const refusals = new EncodedRefusals();
    const text = refusals.staleText(3, 7);
    expect(text).toBe("request id 3 is not above this session's last request id 7; every request needs a larger id than the one before");
    expect(refusals.staleText(3, 7)).toBe(text);
    expect(refusals.staleText(7, 7)).toContain("request id 7 is not above this session's last request id 7");
  });
});
