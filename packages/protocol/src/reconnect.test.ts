import { describe, expect, it } from "vitest";
import { CloseCode } from "./codes.js";
import { LocalCloseCode, RECONNECT_POLICY, reconnectPolicy } from "./reconnect.js";

describe("reconnectPolicy", () => {
  it.each([
    [CloseCode.NORMAL, "stop"],
    [CloseCode.UNSUPPORTED_VERSION, "stop"],
    [CloseCode.UNAUTHENTICATED, "stop"],
    [CloseCode.SERVICE_RESTART, "resume"],
    [CloseCode.MESSAGE_TOO_BIG, "resume"],
    [CloseCode.INTERNAL_ERROR, "resume"],
    [CloseCode.PROTOCOL_ERROR, "resume"],
    [CloseCode.HANDSHAKE_TIMEOUT, "resume"],
    [CloseCode.SESSION_EXPIRED, "resume"],
    [CloseCode.TOO_MANY_SESSIONS, "resume"],
    [CloseCode.SLOW_CONSUMER, "resume"],
    [CloseCode.SESSION_TAKEN_OVER, "resume"],
    [CloseCode.RATE_LIMITED, "resume"],
    // Codes no leasehold server sends: a dropped link, a peer going away, a proxy's own.
    [LocalCloseCode.ABNORMAL, "resume"],
    [1001, "resume"],
    [4999, "resume"],
  ] as const)("after close %i: %s", (code, policy) => {
    expect(reconnectPolicy(code)).toBe(policy);
  });

  it("names every close code of the protocol", () => {
    expect(Object.keys(RECONNECT_POLICY).map(Number).sort()).toEqual(Object.values(CloseCode).sort());
  });
});
