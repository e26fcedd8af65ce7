import { describe, expect, it } from "vitest";
import { decodeClientMessage, decodeServerMessage, encode } from "./codec.js";
import { ErrorCode } from "./codes.js";
import { BOUNDS } from "./limits.js";

/** Words of the schema library's own messages (zod's English locale), which must never reach a peer. */
const SCHEMA_LIBRARY_WORDING = /Invalid input|Invalid option|received|Too (small|big)|>=|<=|expected number|expected int\b/;

describe("refusals in the protocol's terms: the field's path, what the spec expects there, what came", () => {
  // [what was sent, the error's text]
  const cases: [Record<string, unknown>, string][] = [
    [{ op: "lease.grant", id: 1, ttl: "1000" }, 'invalid lease.grant: ttl: expected a number, got the string "1000"'],
    [{ op: "lease.grant", id: 1, ttl: 1.5 }, "invalid lease.grant: ttl: expected an integer, got the float 1.5"],
    [{ op: "lease.grant", id: 1, ttl: -5 }, "invalid lease.grant: ttl: expected at least 0, got the integer -5"],
    [{ op: "lease.ttl", id: 4 }, "invalid lease.ttl: lease: missing, expected a number"],
    [{ op: "lock.acquire", id: 2, name: "a", lease: 1, mode: "weird" }, 'invalid lock.acquire: mode: expected "exclusive" or "shared", got the string "weird"'],
    [{ op: "lock.acquire", id: 2, name: "a", lease: 1, wait: "yes" }, 'invalid lock.acquire: wait: expected true or a number, got the string "yes"'],
    [{ op: "lock.acquire", id: 2, name: "a", lease: 1, wait: BOUNDS.maxDelayMs + 1 }, `invalid lock.acquire: wait: expected at most ${BOUNDS.maxDelayMs}, got the integer ${BOUNDS.maxDelayMs + 1}`],
    [{ op: "lock.acquire", id: 2, name: Uint8Array.of(1, 2), lease: 1 }, "invalid lock.acquire: name: expected a string, got binary (2 bytes)"],
    [{ op: "hello", version: "1" }, 'invalid hello: version: expected a number, got the string "1"'],
  ];

  for (const [message, text] of cases) {
    it(`${JSON.stringify(message)}`, () => {
      const decoded = decodeClientMessage(encode(message));
      expect(decoded).toMatchObject({ ok: false, fatal: false, error: text });
      if (!decoded.ok) expect(decoded.error).not.toMatch(SCHEMA_LIBRARY_WORDING);
    });
  }

  it("keeps the codes: a number out of range is OUT_OF_RANGE, a wrong type BAD_REQUEST", () => {
    expect(decodeClientMessage(encode({ op: "lease.grant", id: 1, ttl: -5 }))).toMatchObject({ code: ErrorCode.OUT_OF_RANGE, id: 1 });
    expect(decodeClientMessage(encode({ op: "lease.grant", id: 1, ttl: "5" }))).toMatchObject({ code: ErrorCode.BAD_REQUEST, id: 1 });
  });

  it("quotes a received string only up to 64 characters", () => {
    const decoded = decodeClientMessage(encode({ op: "lock.acquire", id: 2, name: "a", lease: 1, mode: "m".repeat(10_000) }));
    expect(decoded).toMatchObject({ ok: false, error: `invalid lock.acquire: mode: expected "exclusive" or "shared", got the string "${"m".repeat(64)}..."` });
  });

  it("words a server's invalid frame the same way for a client", () => {
    const decoded = decodeServerMessage(encode({ type: "ping", seq: "7", ack: 0 }));
    expect(decoded).toMatchObject({ ok: false, fatal: true, error: 'invalid server message: seq: expected a number, got the string "7"' });
  });
});
