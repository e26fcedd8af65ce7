import { encode as independentEncode } from "@msgpack/msgpack";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeClientMessage, decodeClientMessageFully, encode } from "./codec.js";
import { ErrorCode } from "./codes.js";
import { BOUNDS } from "./limits.js";
import { FAST_OPS, type FieldKind } from "./request-fast-path.js";
import { startReading, stopReading } from "./plain-reader.js";
import { readCommonRequest, readShapedRequest } from "./request-reader.js";
import { concat, mutation, rarely } from "./frame-mutations.test-support.js";
import { propertyRuns } from "../../../test/support/property-runs.js";

/** The common requests as the client library sends them, required fields only and every field given. */
const PLAIN: Record<string, unknown>[] = [
  { op: "pong", seq: 0 },
  { op: "cancel", id: 7, target: 3 },
  { op: "lease.grant", id: 7, ttl: 5_000, keepAlive: true },
  { op: "lease.renew", id: 7, lease: 2 },
  { op: "lease.revoke", id: 7, lease: 2 },
  { op: "lock.acquire", id: 7, name: "n", lease: 2 },
  { op: "lock.acquire", id: 70_000, name: "orders/42", lease: 2, wait: 100, mode: "shared", limit: 3, steal: false, lockDelay: 10 },
  { op: "lock.acquire", id: 7, name: "n", lease: 2, wait: true },
  { op: "lock.release", id: 2 ** 40, name: "n", token: 4 },
  { op: "kv.put", id: 7, key: "k", value: "v".repeat(100) },
  { op: "kv.put", id: 7, key: "k", value: -3, lease: 2, ifRevision: 0, fence: { lock: "n", token: 4 } },
  { op: "kv.put", id: 7, key: "k", value: null },
  { op: "kv.put", id: 7, key: "clé", value: "valeur ✓ 😀" },
  { op: "kv.get", id: 7, key: "k" },
  { op: "kv.delete", id: 7, key: "k", ifRevision: 3, fence: { token: 4, lock: "n" } },
  { op: "counter.add", id: 7, name: "c", delta: -5 },
  { op: "counter.get", id: 7, name: "c" },
  { op: "counter.set", id: 7, name: "c", value: Number.MAX_SAFE_INTEGER },
];

/** The decoder's answer must be the full path's, for every frame: the reader may only save time. */
function expectSameAsFullPath(frame: Uint8Array, label: string): void {
  expect(decodeClientMessage(frame), label).toStrictEqual(decodeClientMessageFully(frame));
}

describe("the reader of plain common requests", () => {
  it("reads what the client sends (otherwise it would only cost time), as the full path does", () => {
    for (const message of PLAIN) {
      for (const frame of [encode(message), independentEncode(message)]) {
        expect(readCommonRequest(frame), JSON.stringify(message)).toBeDefined();
        expectSameAsFullPath(frame, JSON.stringify(message));
      }
    }
  });

  it("leaves every frame the full path refuses, or reads otherwise, to it", () => {
    const refused: [string, Uint8Array, ErrorCode | undefined][] = [
      ["a duplicate key", concat(Uint8Array.of(0x84), encode("op"), encode("kv.get"), encode("id"), Uint8Array.of(7), encode("key"), encode("k"), encode("id"), Uint8Array.of(8)), ErrorCode.BAD_REQUEST],
      // By hand: msgpackr's encoder cannot write this key.
      ["the key __proto__", concat(Uint8Array.of(0x84), encode("op"), encode("kv.get"), encode("id"), Uint8Array.of(7), encode("key"), encode("k"), encode("__proto__"), encode(1)), ErrorCode.BAD_REQUEST],
      ["a name that is not UTF-8", concat(Uint8Array.of(0x83), encode("op"), encode("kv.get"), encode("id"), Uint8Array.of(7), encode("key"), Uint8Array.of(0xa2, 0xc3, 0x28)), ErrorCode.BAD_REQUEST],
      ["an unsafe uint64 id", concat(Uint8Array.of(0x83), encode("op"), encode("kv.get"), encode("id"), Uint8Array.of(0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0), encode("key"), encode("k")), ErrorCode.OUT_OF_RANGE],
      ["a byte after the map", concat(encode({ op: "kv.get", id: 7, key: "k" }), Uint8Array.of(0xc0)), ErrorCode.BAD_REQUEST],
      ["a truncated frame", encode({ op: "kv.get", id: 7, key: "key" }).subarray(0, 12), ErrorCode.BAD_REQUEST],
      // Not refused: zod strips it.
      ["an unknown field", encode({ op: "kv.get", id: 7, key: "k", extra: 1 }), undefined],
      ["a name too long", encode({ op: "kv.get", id: 7, key: "k".repeat(BOUNDS.maxNameLength + 1) }), ErrorCode.OUT_OF_RANGE],
      ["a fence with a third field (stripped by zod)", encode({ op: "kv.delete", id: 7, key: "k", fence: { lock: "n", token: 4, extra: 1 } }), undefined],
      ["a fence with a duplicate field", concat(Uint8Array.of(0x84), encode("op"), encode("kv.delete"), encode("id"), Uint8Array.of(7), encode("key"), encode("k"), encode("fence"), Uint8Array.of(0x82), encode("lock"), encode("n"), encode("lock"), encode("m")), ErrorCode.BAD_REQUEST],
    ];
    for (const [label, frame, code] of refused) {
      expect(readCommonRequest(frame), label).toBeUndefined();
      if (code !== undefined) expect(decodeClientMessage(frame), label).toMatchObject({ ok: false, code });
      expectSameAsFullPath(frame, label);
    }
  });

  it("reads a lock pair's two requests and a plain put or get, as the client library sends them, through a reader of their own, keys in the wire order", () => {
    const shaped = [
      { op: "lock.acquire", id: 7, name: "orders/42", lease: 2, wait: 0 },
      { op: "lock.acquire", id: 2 ** 40, name: "n", lease: 2 ** 33, wait: true },
      { op: "lock.acquire", id: 7, name: "n", lease: 2, wait: BOUNDS.maxDelayMs },
      { op: "lock.release", id: 8, name: "orders/42", token: 4 },
      { op: "kv.put", id: 9, key: "config/x", value: "v".repeat(100) },
      { op: "kv.put", id: 9, key: "k", value: -3.5 },
      { op: "kv.put", id: 9, key: "k", value: null },
      { op: "kv.put", id: 9, key: "k", value: false },
      { op: "kv.put", id: 9, key: "clé", value: "valeur ✓ 😀" },
      { op: "kv.get", id: 2 ** 40, key: "config/x" },
    ];
    for (const message of shaped) {
      for (const frame of [encode(message), independentEncode(message)]) {
        startReading(frame);
        const read = readShapedRequest();
        stopReading();
        expect(read, JSON.stringify(message)).toStrictEqual(message);
        expect(Object.keys(read ?? {})).toEqual(Object.keys(message));
        expectSameAsFullPath(frame, JSON.stringify(message));
      }
    }
  });

  it("leaves every other lock, put or get request to the general reader, which reads it as before", () => {
    const others: [string, Uint8Array][] = [
      ["a put's value as a map", encode({ op: "kv.put", id: 9, key: "k", value: { a: 1 } })],
      ["a put's value as an array", encode({ op: "kv.put", id: 9, key: "k", value: [1, 2] })],
      ["a put with a lease", encode({ op: "kv.put", id: 9, key: "k", value: 1, lease: 2 })],
      ["a put without its value", encode({ op: "kv.put", id: 9, key: "k" })],
      ["a put's value before its key", encode({ op: "kv.put", id: 9, value: 1, key: "k" })],
      ["a get with a further field", encode({ op: "kv.get", id: 9, key: "k", value: 1 })],
      ["a get with an empty key", encode({ op: "kv.get", id: 9, key: "" })],
      ["a get with a name instead of a key", encode({ op: "kv.get", id: 9, name: "k" })],
      ["a get with id 0", encode({ op: "kv.get", id: 0, key: "k" })],
      ["a byte after a get", concat(encode({ op: "kv.get", id: 9, key: "k" }), Uint8Array.of(0xc0))],
      ["a byte after a put", concat(encode({ op: "kv.put", id: 9, key: "k", value: 1 }), Uint8Array.of(0xc0))],
      ["a truncated put", encode({ op: "kv.put", id: 9, key: "k", value: "v".repeat(40) }).subarray(0, 30)],
      ["another key order", encode({ op: "lock.release", id: 8, token: 4, name: "n" })],
      ["op not first", encode({ id: 8, op: "lock.release", name: "n", token: 4 })],
      ["a further field", encode({ op: "lock.acquire", id: 7, name: "n", lease: 2, wait: 0, mode: "shared" })],
      ["no wait", encode({ op: "lock.acquire", id: 7, name: "n", lease: 2 })],
      ["a release's fields under acquire", encode({ op: "lock.acquire", id: 7, name: "n", token: 4 })],
      ["an acquire's fields under release", encode({ op: "lock.release", id: 7, name: "n", lease: 2, wait: 0 })],
      ["a float id", encode({ op: "lock.release", id: 7.5, name: "n", token: 4 })],
      ["id 0", encode({ op: "lock.release", id: 0, name: "n", token: 4 })],
      ["an empty name", encode({ op: "lock.release", id: 8, name: "", token: 4 })],
      ["a name too long", encode({ op: "lock.release", id: 8, name: "k".repeat(BOUNDS.maxNameLength + 1), token: 4 })],
      ["a negative token", encode({ op: "lock.release", id: 8, name: "n", token: -4 })],
      ["wait false", encode({ op: "lock.acquire", id: 7, name: "n", lease: 2, wait: false })],
      ["wait past its bound", encode({ op: "lock.acquire", id: 7, name: "n", lease: 2, wait: BOUNDS.maxDelayMs + 1 })],
      ["a byte after the map", concat(encode({ op: "lock.release", id: 8, name: "n", token: 4 }), Uint8Array.of(0xc0))],
      ["a truncated frame", encode({ op: "lock.release", id: 8, name: "n", token: 4 }).subarray(0, 20)],
    ];
    for (const [label, frame] of others) {
      startReading(frame);
      expect(readShapedRequest(), label).toBeUndefined();
      stopReading();
      expectSameAsFullPath(frame, label);
    }
  });

  it("keeps a leading byte-order mark and the float64 form of an integer, as msgpackr does", () => {
    const frames = [
      concat(Uint8Array.of(0x84), encode("op"), encode("kv.put"), encode("id"), Uint8Array.of(7), encode("key"), Uint8Array.of(0xa4, 0xef, 0xbb, 0xbf, 0x6b), encode("value"), encode("v")),
      concat(Uint8Array.of(0x83), encode("op"), encode("kv.get"), encode("id"), Uint8Array.of(0xcb, 0x40, 0x1c, 0, 0, 0, 0, 0, 0), encode("key"), encode("k")),
    ];
    expect(readCommonRequest(frames[0]!)).toStrictEqual({ op: "kv.put", id: 7, key: "\ufeffk", value: "v" });
    expect(readCommonRequest(frames[1]!)).toStrictEqual({ op: "kv.get", id: 7, key: "k" });
    for (const frame of frames) expectSameAsFullPath(frame, "bom / float64");
  });

  it("reads a value with a byte past ASCII anywhere in it as UTF-8, and a stray one as the full path does, at every length the ASCII check reads by turns of four", () => {
    for (const length of [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]) {
      for (let at = 0; at < length; at++) {
        const value = `${"a".repeat(at)}é${"a".repeat(length - at - 1)}`;
        const frame = encode({ op: "kv.put", id: 7, key: "k", value });
        expect(readCommonRequest(frame), `é at ${at} of ${length}`).toStrictEqual({ op: "kv.put", id: 7, key: "k", value });
        // An ASCII value (the frame's last bytes) with one of its bytes made a lone continuation byte: not UTF-8.
        const stray = encode({ op: "kv.put", id: 7, key: "k", value: "a".repeat(length) });
        stray[stray.length - length + at] = 0x80;
        expect(readCommonRequest(stray), `stray byte at ${at} of ${length}`).toBeUndefined();
        expectSameAsFullPath(stray, `stray byte at ${at} of ${length}`);
      }
    }
  });

  it("answers as the full path does on generated requests, valid and not, in either encoder's forms, and on their broken bytes", () => {
    let read = 0;
    const runs = propertyRuns(150);
    fc.assert(
      fc.property(request, fc.boolean(), rarely(mutation, 2), (message, independent, mutate) => {
        let frame = independent ? independentEncode(message) : encode(message);
        if (mutate !== null) frame = mutate(frame);
        const common = readCommonRequest(frame);
        // A frame the reader leaves goes to the full path itself (decodeClientMessage), so the property is
        // about the frames it reads. Compared with node's deep equality first: vitest's matcher and the
        // label's JSON for every frame cost more than the decoding; they are built for a mismatch only.
        if (common === undefined) return;
        read++;
        const full = decodeClientMessageFully(frame);
        if (!isDeepStrictEqual({ ok: true, message: common }, full)) expectSameAsFullPath(frame, JSON.stringify(message));
      }),
      // 150 frames a run here, 600 in CI (3,000 took 0.87 s, a third of the unit tier's tests then).
      { numRuns: runs },
    );
    // Both sides of the decision were exercised: about 35 % of the frames are read (1,060 of 3,000 measured).
    expect(read).toBeGreaterThan(runs / 10);
  });
});

/** A value of each field's kind, within its rule or just past it, or of another kind altogether. */
const EDGES: unknown[] = [
  null, true, false, 0, -0, 1, -1, 2.5, 1_000_000, 1_000_001, 2 ** 31, 2 ** 32, BOUNDS.maxDelayMs, BOUNDS.maxDelayMs + 1,
  Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, Number.NaN, "", "n", "é", "\ufeff", "k".repeat(BOUNDS.maxNameLength),
  "k".repeat(BOUNDS.maxNameLength + 1), "exclusive", "shared", "7", [], [1], {}, { a: 1 }, Uint8Array.of(1, 2),
  { lock: "n", token: 4 }, { lock: "n" }, { lock: "", token: 4 }, { token: 4, lock: "n" }, { lock: "n", token: 4, extra: 1 },
];

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...EDGES),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ maxLength: 600 }),
  fc.boolean(),
);

const VALID: Record<FieldKind, fc.Arbitrary<unknown>> = {
  name: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }),
  positive: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  nonNegative: fc.nat(),
  safeInt: fc.maxSafeInteger(),
  millis: fc.integer({ min: 0, max: BOUNDS.maxDelayMs }),
  wait: fc.oneof(fc.constant(true), fc.integer({ min: 0, max: BOUNDS.maxDelayMs })),
  boolean: fc.boolean(),
  mode: fc.constantFrom("exclusive", "shared"),
  holders: fc.integer({ min: 1, max: 1_000_000 }),
  value: fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), fc.double(), fc.constant(null), fc.jsonValue({ maxDepth: 2 })),
  fence: fc.record({ lock: fc.string({ minLength: 1, maxLength: 10 }), token: fc.integer({ min: 1, max: 1_000 }) }),
};

/** A common request, each field usually within its rule, sometimes left out, retyped, or joined by an unknown one. */
const request: fc.Arbitrary<Record<string, unknown>> = fc.constantFrom(...FAST_OPS.entries()).chain(([op, fields]) =>
  fc
    .tuple(
      ...Object.entries(fields).map(([name, field]) =>
        fc.oneof(
          { weight: 8, arbitrary: VALID[field.kind].map((value) => [name, value] as const) },
          { weight: field.required ? 1 : 4, arbitrary: fc.constant([name, undefined] as const) },
          { weight: 1, arbitrary: anyValue.map((value) => [name, value] as const) },
        ),
      ),
      rarely(fc.tuple(fc.constantFrom("extra", "__proto__", "op", "constructor", "lock"), anyValue), 6),
    )
    .map(([...entries]) => {
      const extra = entries.pop() as [string, unknown] | null;
      const message: Record<string, unknown> = { op };
      for (const [name, value] of entries as [string, unknown][]) if (value !== undefined) message[name] = value;
      if (extra !== null) Object.defineProperty(message, extra[0], { value: extra[1], enumerable: true, configurable: true, writable: true });
      return message;
    }),
);
