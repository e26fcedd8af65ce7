import { describe, expect, it } from "vitest";
import { CloseCode, ErrorCode } from "./codes.js";
import { ErrorMessage } from "./server-messages.js";

describe("ErrorCode", () => {
  it("sends each code as its own name, so that a log line or a packet capture explains itself", () => {
    for (const [name, code] of Object.entries(ErrorCode)) expect(code).toBe(name);
  });

  it("is the list an error message may carry, no more", () => {
    for (const code of Object.values(ErrorCode)) expect(ErrorMessage.safeParse({ type: "error", id: 1, code, message: "m" }).success, code).toBe(true);
    expect(ErrorMessage.safeParse({ type: "error", id: 1, code: "SOMETHING_ELSE", message: "m" }).success).toBe(false);
  });
});

describe("CloseCode", () => {
  it("gives every close its own number: standard ones below 4000, the application's in 4000-4999 (RFC 6455)", () => {
    const numbers = Object.values(CloseCode);
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const [name, code] of Object.entries(CloseCode)) {
      expect(code >= 1000 && code < 5000, name).toBe(true);
      // Codes 1004-1006 and 1015 are reserved: an endpoint must never send them.
      expect([1004, 1005, 1006, 1015], name).not.toContain(code);
    }
  });
});
