import { encode as independentEncode } from "@msgpack/msgpack";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { decodeServerMessage, decodeServerMessageFully, encode } from "./codec.js";
import { concat, mutation, rarely } from "./frame-mutations.test-support.js";
import { readCommonReply } from "./reply-reader.js";
import { RESULT_SHAPES } from "./result-fast-path.js";
import { propertyRuns } from "../../../test/support/property-runs.js";

/** The replies to the common requests as the server sends them. */
const PLAIN: Record<string, unknown>[] = [
  { type: "reply", id: 7, result: { acquired: true, token: 12 } },
  { type: "reply", id: 2 ** 40, result: { acquired: false } },
  { type: "reply", id: 7, result: { released: true } },
  { type: "reply", id: 7, result: { revision: 300 } },
  { type: "reply", id: 7, result: { entry: { value: "v".repeat(100), revision: 4 } } },
  { type: "reply", id: 7, result: { entry: { value: -2.5, revision: 4, lease: 9 } } },
  { type: "reply", id: 7, result: { entry: { value: "valeur ✓ 😀", revision: 4 } } },
  { type: "reply", id: 7, result: { entry: null } },
  { type: "reply", id: 7, result: { lease: 3, ttl: 5_000, keepAlive: true } },
  { type: "reply", id: 7, result: {} },
  { type: "reply", id: 7, result: { deleted: false, revision: 0 } },
  { type: "reply", id: 7, result: { value: -5, revision: 2 } },
];

/** The decoder's answer must be the full path's, for every frame: the reader may only save time. */
function expectSameAsFullPath(frame: Uint8Array, label: string): void {
  expect(decodeServerMessage(frame), label).toStrictEqual(decodeServerMessageFully(frame));
}

describe("the reader of plain common replies", () => {
  it("reads what the server sends (otherwise it would only cost time), as the full path does", () => {
    for (const message of PLAIN) {
      for (const frame of [encode(message), independentEncode(message)]) {
        expect(readCommonReply(frame), JSON.stringify(message)).toStrictEqual(message);
        expectSameAsFullPath(frame, JSON.stringify(message));
      }
    }
  });

  it("reads every field of every common result, in the frame's order (a field the reader does not store would send the result to the full path)", () => {
    const plainValue = (name: string): unknown => (name === "entry" ? { value: "v", revision: 1, lease: 2 } : name === "acquired" || name === "elected" ? true : 3);
    for (const shape of [...RESULT_SHAPES.values()].flat()) {
      const names = Object.keys(shape);
      // Each shape's fields in the server's order and reversed: the object keeps the frame's order, as msgpackr's does.
      for (const order of [names, [...names].reverse()]) {
        const message = { type: "reply", id: 7, result: Object.fromEntries(order.map((name) => [name, plainValue(name)])) };
        const read = readCommonReply(encode(message));
        expect(read, JSON.stringify(message)).toStrictEqual(message);
        expect(Object.keys(read?.type === "reply" ? read.result : {}), JSON.stringify(message)).toEqual(order);
      }
    }
  });

  it("looks no method up on String.prototype per character of a key (see plain-encoder.test.ts)", () => {
    const frames = PLAIN.map((message) => encode(message));
    const lookedUp = vi.spyOn(String.prototype, "charCodeAt").mockImplementation(() => {
      throw new Error("String.prototype.charCodeAt looked up at the call");
    });
    try {
      for (const [index, frame] of frames.entries()) expect(readCommonReply(frame), JSON.stringify(PLAIN[index])).toStrictEqual(PLAIN[index]);
    } finally {
      lookedUp.mockRestore();
    }
  });

  it("leaves every other message, and every frame the full path refuses or reads otherwise, to it", () => {
    const base = [encode("type"), encode("reply"), encode("id"), Uint8Array.of(7), encode("result")];
    const others: [string, Uint8Array][] = [
      ["a ping", encode({ type: "ping", seq: 3, ack: 2 })],
      ["an error", encode({ type: "error", id: 7, code: 1005, message: "m" })],
      ["a duplicate envelope key", concat(Uint8Array.of(0x83), ...base.slice(0, 4), encode("id"), Uint8Array.of(8))],
      ["a duplicate result key", concat(Uint8Array.of(0x83), ...base, Uint8Array.of(0x82), encode("released"), encode(true), encode("released"), encode(false))],
      ["the key __proto__ in the result", concat(Uint8Array.of(0x83), ...base, Uint8Array.of(0x81), encode("__proto__"), encode(1))],
      ["a value that is not UTF-8", concat(Uint8Array.of(0x83), ...base, Uint8Array.of(0x81), encode("entry"), Uint8Array.of(0x82), encode("value"), Uint8Array.of(0xa2, 0xc3, 0x28), encode("revision"), Uint8Array.of(1))],
      ["an unsafe uint64 id", concat(Uint8Array.of(0x83), ...base.slice(0, 3), Uint8Array.of(0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0), encode("result"), encode({}))],
      ["a float32", concat(Uint8Array.of(0x83), ...base, Uint8Array.of(0x81), encode("revision"), Uint8Array.of(0xca, 0x3f, 0x80, 0, 0))],
      ["a byte after the map", concat(encode({ type: "reply", id: 7, result: {} }), Uint8Array.of(0xc0))],
      ["a truncated frame", encode({ type: "reply", id: 7, result: { revision: 300 } }).subarray(0, 20)],
      ["an id of 0", encode({ type: "reply", id: 0, result: {} })],
      ["a result that is not a map", encode({ type: "reply", id: 7, result: [1] })],
      ["a field no common result has", encode({ type: "reply", id: 7, result: { items: [] } })],
      ["a stored map", encode({ type: "reply", id: 7, result: { entry: { value: { a: 1 }, revision: 4 } } })],
      ["a stored binary value", encode({ type: "reply", id: 7, result: { entry: { value: Uint8Array.of(1), revision: 4 } } })],
      ["a fourth envelope key", encode({ type: "reply", id: 7, result: {}, extra: 1 })],
    ];
    for (const [label, frame] of others) {
      expect(readCommonReply(frame), label).toBeUndefined();
      expectSameAsFullPath(frame, label);
    }
  });

  it("answers as the full path does on generated replies, valid and not, in either encoder's forms, and on their broken bytes", () => {
    let read = 0;
    const runs = propertyRuns(150);
    fc.assert(
      fc.property(reply, fc.boolean(), rarely(mutation, 2), (message, independent, mutate) => {
        let frame = independent ? independentEncode(message) : encode(message);
        if (mutate !== null) frame = mutate(frame);
        const common = readCommonReply(frame);
        // A frame the reader leaves goes to the full path itself (decodeServerMessage), so the property is
        // about the frames it reads; node's deep equality first, vitest's matcher and label for a mismatch only.
        if (common === undefined) return;
        read++;
        if (!isDeepStrictEqual({ ok: true, message: common }, decodeServerMessageFully(frame))) expectSameAsFullPath(frame, JSON.stringify(message));
      }),
      // 150 frames a run here, 600 in CI, as request-reader.test.ts.
      { numRuns: runs },
    );
    // Both sides of the decision were exercised.
    expect(read).toBeGreaterThan(runs / 10);
  });
});

/** Values of every kind a result field or a stored value may hold, or should not. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -0, 1, -1, 2.5, 2 ** 32, Number.MAX_SAFE_INTEGER, 2 ** 53, Number.NaN, "", "é", "\ufeff", [], {}, Uint8Array.of(1)),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ maxLength: 300 }),
  fc.boolean(),
  fc.jsonValue({ maxDepth: 2 }),
);

const entry = fc.record({ value: anyValue, revision: fc.oneof(fc.integer({ min: 1 }), anyValue), lease: fc.integer({ min: 1 }) }, { requiredKeys: ["value", "revision"] });

/** A reply to a common request: each result field usually plain, sometimes anything, sometimes left out or joined by another. */
const reply: fc.Arbitrary<Record<string, unknown>> = fc
  .constantFrom(...[...RESULT_SHAPES.values()].flat())
  .chain((shape) =>
    fc.tuple(
      fc.tuple(
        ...Object.keys(shape).map((name) =>
          fc.oneof(
            { weight: 8, arbitrary: (name === "entry" ? fc.oneof(entry, fc.constant(null)) : fc.oneof(fc.nat(), fc.boolean())).map((value) => [name, value] as const) },
            { weight: 1, arbitrary: fc.constant([name, undefined] as const) },
            { weight: 1, arbitrary: anyValue.map((value) => [name, value] as const) },
          ),
        ),
      ),
      rarely(fc.tuple(fc.constantFrom("extra", "__proto__", "revision", "token"), anyValue), 6),
      fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1 }) }, { weight: 1, arbitrary: anyValue }),
      rarely(fc.constantFrom("error", "ping", "Reply"), 8),
    ),
  )
  .map(([entries, extra, id, type]) => {
    const result: Record<string, unknown> = {};
    for (const [name, value] of entries) if (value !== undefined) result[name] = value;
    if (extra !== null) Object.defineProperty(result, extra[0], { value: extra[1], enumerable: true, configurable: true, writable: true });
    return { type: type ?? "reply", id, result };
  });
