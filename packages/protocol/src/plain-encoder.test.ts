import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { encode, encodeFully, encodeReplyTransient, encodeTransient, encodedLength } from "./codec.js";
import { encodePlain } from "./plain-encoder.js";
import { propertyRuns } from "../../../test/support/property-runs.js";

/** Replies to the common requests and the requests themselves, as server and client send them. */
const PLAIN: unknown[] = [
  { type: "reply", id: 123_456, result: { acquired: true, token: 987_654 } },
  { type: "reply", id: 7, result: { acquired: false } },
  { type: "reply", id: 2 ** 32 - 1, result: { released: true } },
  { type: "reply", id: 300, result: { revision: 70_000 } },
  { type: "reply", id: 301, result: { entry: { value: "v".repeat(100), revision: 5, lease: undefined } } },
  { type: "reply", id: 302, result: { entry: null } },
  { type: "ping", seq: 4, ack: 3 },
  { op: "lock.acquire", id: 9, name: "orders/42", lease: 1, wait: undefined, mode: undefined },
  { op: "counter.add", id: 9, name: "c", delta: -(2 ** 31) },
  { op: "kv.put", id: 9, key: "k", value: "x".repeat(300) },
];

describe("the hand-written encoder of plain messages", () => {
  it("writes the common replies and requests (otherwise it would only cost time), byte for byte as msgpackr", () => {
    for (const message of PLAIN) {
      const plain = encodePlain(message);
      expect(plain, JSON.stringify(message)).toBeDefined();
      expect(Array.from(plain!), JSON.stringify(message)).toEqual(Array.from(encodeFully(message)));
    }
  });

  it("gives the same bytes as a transient view (valid until the next encode) and the same length without them, plain or not", () => {
    const NOT_PLAIN = [{ x: 1.5 }, { x: "é" }, { x: Uint8Array.of(1, 2) }, [1, "two"], "v".repeat(5_000), 2 ** 40];
    for (const message of [...PLAIN, ...NOT_PLAIN]) {
      const bytes = encode(message);
      expect(encodedLength(message), JSON.stringify(message)).toBe(bytes.byteLength);
      const transient = encodeTransient(message);
      expect(Buffer.from(transient).equals(bytes), JSON.stringify(message)).toBe(true);
    }
    // The view of a plain message is the encoder's scratch: the next encode writes over it.
    const first = encodeTransient({ type: "reply", id: 1, result: { released: true } });
    const before = Buffer.from(first);
    encodeTransient({ type: "reply", id: 2, result: { released: false } });
    expect(Buffer.from(first).equals(before)).toBe(false);
  });

  it("hands out the same view for transient bytes of the same length, allocating none per message", () => {
    const first = encodeTransient({ type: "reply", id: 1, result: { released: true } });
    const second = encodeReplyTransient(2, { released: false });
    expect(second).toBe(first);
    expect(Array.from(second)).toEqual(Array.from(encodeFully({ type: "reply", id: 2, result: { released: false } })));
    // A long one is a view of its own, so that the views kept stay few.
    const long = { type: "reply", id: 3, result: { entry: { value: "v".repeat(300), revision: 1 } } };
    expect(encodeTransient(long)).not.toBe(encodeTransient(long));
  });

  it("leaves to msgpackr what it does not write: floats, -0, large integers, non-ASCII text, binaries, arrays, class instances, deep or large maps", () => {
    const deep = { a: { b: { c: { d: { e: 1 } } } } };
    for (const value of [{ x: 1.5 }, { x: -0 }, { x: 2 ** 32 }, { x: -(2 ** 31) - 1 }, { x: "é" }, { x: Uint8Array.of(1) }, { x: [1] }, { x: new Date(0) }, deep, { x: "v".repeat(5_000) }, { x: `${"v".repeat(40)}é` }, Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])), undefined]) {
      expect(encodePlain(value), String(JSON.stringify(value))).toBeUndefined();
    }
  });

  it("writes exactly msgpackr's bytes for every value it takes (generated values)", () => {
    let written = 0;
    const runs = propertyRuns(50);
    const leaf = fc.oneof(
      fc.integer({ min: -(2 ** 31) - 2, max: 2 ** 31 - 1 }), fc.integer({ min: 2 ** 31, max: 2 ** 32 + 1 }),
      fc.constantFrom(0, -0, 127, 128, 255, 256, 65_535, 65_536, -32, -33, -128, -129, -32_768, -32_769, 1.5, Number.NaN),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.string({ maxLength: 40 }),
      fc.string({ unit: "grapheme", maxLength: 5 }),
      fc.string({ minLength: 25, maxLength: 40 }),
      fc.string({ minLength: 250, maxLength: 300 }),
      fc.string({ unit: "grapheme", minLength: 30, maxLength: 40 }),
    );
    const value = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("map")),
      map: fc.dictionary(fc.string({ maxLength: 12 }), tie("value"), { maxKeys: 17 }),
    })).value;
    fc.assert(
      fc.property(value, (message) => {
        const plain = encodePlain(message);
        if (plain === undefined) return;
        written++;
        const full = encodeFully(message);
        expect(encodedLength(message)).toBe(full.byteLength);
        // Compared as bytes first: a diff of two arrays of numbers for every value cost most of this test's time.
        if (!Buffer.from(plain).equals(full)) expect(Array.from(plain)).toEqual(Array.from(full));
      }),
      // Generating the values is most of the time (0.65 s per 1,000 at a load of 2): 50 a run here, 200 in CI.
      { numRuns: runs },
    );
    // About 42 % of the generated values are plain enough to be written by hand (417 of 1,000 measured).
    expect(written).toBeGreaterThan(runs / 10);
  });

  it("writes a reply from its id and result as msgpackr writes the envelope { type, id, result }, plain or not (generated ids and results)", () => {
    const results = [...PLAIN.flatMap((message) => ("result" in (message as object) ? [(message as { result: Record<string, unknown> }).result] : [])), { x: 1.5 }, { x: "é" }, { x: Uint8Array.of(1) }, { a: { b: { c: { d: 1 } } } }, {}];
    const ids = [1, 127, 128, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
    for (const id of ids) {
      for (const result of results) {
        const expected = encodeFully({ type: "reply", id, result });
        expect(Buffer.from(encodeReplyTransient(id, result)).equals(expected), `${id} ${JSON.stringify(result)}`).toBe(true);
      }
    }
    const value = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small", withCrossShrink: true }, fc.integer({ min: -(2 ** 31) - 2, max: 2 ** 32 + 1 }), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.string({ maxLength: 40 }), fc.double(), tie("map")),
      map: fc.dictionary(fc.string({ maxLength: 12 }), tie("value"), { maxKeys: 17 }),
    })).map;
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 1, max: 2 ** 33 }), fc.constantFrom(...ids)), value, (id, result) => {
        const expected = encodeFully({ type: "reply", id, result });
        if (!Buffer.from(encodeReplyTransient(id, result)).equals(expected)) expect(Array.from(encodeReplyTransient(id, result))).toEqual(Array.from(expected));
      }),
      { numRuns: propertyRuns(50) },
    );
  });

  it("looks no method up on String.prototype per character (V8's generic LoadIC for each once a library has put that prototype in dictionary mode)", () => {
    const expected = PLAIN.map((message) => Array.from(encodeFully(message)));
    const lookedUp = vi.spyOn(String.prototype, "charCodeAt").mockImplementation(() => {
      throw new Error("String.prototype.charCodeAt looked up at the call");
    });
    try {
      for (const [index, message] of PLAIN.entries()) expect(Array.from(encodePlain(message)!), JSON.stringify(message)).toEqual(expected[index]);
    } finally {
      lookedUp.mockRestore();
    }
  });
});
