import { encode as independentEncode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { decodeClientMessage, decodeServerMessage, encode } from "./codec.js";
import { ErrorCode } from "./codes.js";
import { BOUNDS } from "./limits.js";
import { referenceBomb, requestWithRaw } from "../../../test/support/hostile-frames.js";

/** `depth` arrays, one inside the other, around nil. */
function nestedArrays(depth: number): Uint8Array {
  return Uint8Array.from([...new Array<number>(depth).fill(0x91), 0xc0]);
}

describe("the codec's decision: fatal (close 4000) or an ordinary error answering the request", () => {
  const get = { op: "kv.get", id: 5, key: "k" };
  // [case, frame, fatal, code, id the error answers]
  const cases: [string, Uint8Array, boolean, ErrorCode, number | undefined][] = [
    // The stream cannot be trusted: what follows could be anything.
    ["the byte 0xc1 (not msgpack)", Uint8Array.of(0xc1), true, ErrorCode.BAD_REQUEST, undefined],
    ["a truncated frame", encode(get).subarray(0, -1), true, ErrorCode.BAD_REQUEST, undefined],
    ["bytes after the message", Uint8Array.from([...encode(get), 0xc0]), true, ErrorCode.BAD_REQUEST, undefined],
    ["an extension type (a Date as msgpack's timestamp)", encode({ op: "kv.put", id: 5, key: "k", value: new Date(0) }), true, ErrorCode.BAD_REQUEST, undefined],
    ["an array declaring more entries than bytes follow", requestWithRaw("kv.put", { id: 5, key: "k" }, "value", Uint8Array.of(0xdd, 0, 0, 0, 9)), true, ErrorCode.BAD_REQUEST, undefined],
    [`nesting past BOUNDS.maxFrameDepth (${BOUNDS.maxFrameDepth})`, requestWithRaw("kv.put", { id: 5, key: "k" }, "value", nestedArrays(BOUNDS.maxFrameDepth)), true, ErrorCode.BAD_REQUEST, undefined],
    // A readable frame with a wrong message: refuse the request, keep the connection.
    ["an unknown op", encode({ op: "kv.explode", id: 5 }), false, ErrorCode.UNKNOWN_OP, 5],
    ["a missing field", encode({ op: "kv.get", id: 5 }), false, ErrorCode.BAD_REQUEST, 5],
    ["a field of the wrong type", encode({ ...get, key: 7 }), false, ErrorCode.BAD_REQUEST, 5],
    ["a number below its range", encode({ op: "lease.grant", id: 5, ttl: -1 }), false, ErrorCode.OUT_OF_RANGE, 5],
    ["a wait longer than a timer holds (inside a union)", encode({ op: "lock.acquire", id: 5, name: "n", lease: 1, wait: BOUNDS.maxDelayMs + 1 }), false, ErrorCode.OUT_OF_RANGE, 5],
    [`a name over ${BOUNDS.maxNameLength} UTF-16 units`, encode({ ...get, key: "k".repeat(BOUNDS.maxNameLength + 1) }), false, ErrorCode.OUT_OF_RANGE, 5],
    [`a value nested past BOUNDS.maxValueDepth (${BOUNDS.maxValueDepth})`, requestWithRaw("kv.put", { id: 5, key: "k" }, "value", nestedArrays(BOUNDS.maxValueDepth + 1)), false, ErrorCode.BAD_REQUEST, 5],
    ["a non-finite number in a value", encode({ op: "kv.put", id: 5, key: "k", value: [Number.NaN] }), false, ErrorCode.BAD_REQUEST, 5],
    ["a 64-bit integer past ±(2^53 - 1)", requestWithRaw("counter.add", { id: 5, name: "c" }, "delta", Uint8Array.of(0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0)), false, ErrorCode.OUT_OF_RANGE, 5],
    ["a map key that is not a string", requestWithRaw("kv.put", { id: 5, key: "k" }, "value", Uint8Array.of(0x81, 0x01, 0x01)), false, ErrorCode.BAD_REQUEST, 5],
    ["a map key given twice", requestWithRaw("kv.put", { id: 5, key: "k" }, "value", Uint8Array.of(0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02)), false, ErrorCode.BAD_REQUEST, 5],
    ["a string that is not UTF-8", requestWithRaw("kv.get", { id: 5 }, "key", Uint8Array.of(0xa1, 0xff)), false, ErrorCode.BAD_REQUEST, 5],
    // Readable, but no request id to answer: an error without one.
    ["a message that is not a map", encode(5), false, ErrorCode.BAD_REQUEST, undefined],
    ["a request id below 1", encode({ ...get, id: -1 }), false, ErrorCode.OUT_OF_RANGE, undefined],
    ["a request id that is not a number", encode({ ...get, id: "five" }), false, ErrorCode.BAD_REQUEST, undefined],
    ["a hello with a bad version", encode({ op: "hello", version: "one" }), false, ErrorCode.BAD_REQUEST, undefined],
  ];

  for (const [label, frame, fatal, code, id] of cases) {
    it(`${label}: ${fatal ? "fatal" : `${code}${id === undefined ? " without an id" : " answering the request"}`}`, () => {
      const decoded = decodeClientMessage(frame);
      expect(decoded).toEqual({ ok: false, fatal, code, error: expect.any(String), ...(id !== undefined && { id }) });
      if (!decoded.ok && fatal) expect(decoded.id).toBeUndefined();
    });
  }

  it("is fatal for every one of them when a server sent it: a client cannot answer a server", () => {
    for (const [label, frame] of cases) {
      expect(decodeServerMessage(frame), label).toMatchObject({ ok: false, fatal: true });
    }
  });
});

describe("decodeClientMessage", () => {
  it("refuses msgpackr's reference bomb as fatal, fast, before looking at the message", () => {
    const bomb = referenceBomb(40, (agent) => ({ op: "hello", version: 1, agent }));
    expect(bomb.length).toBeLessThan(600);
    const started = performance.now();
    const decoded = decodeClientMessage(bomb);
    expect(performance.now() - started).toBeLessThan(50);
    expect(decoded).toEqual({ ok: false, fatal: true, code: ErrorCode.BAD_REQUEST, error: expect.stringMatching(/extension type/) });
  });

  it("refuses the bomb with one junk byte appended without stringifying it (msgpackr's error quoted the whole value)", () => {
    const bomb = referenceBomb(20);
    const decoded = decodeClientMessage(Uint8Array.from([...bomb, 0x00]));
    expect(decoded).toMatchObject({ ok: false, fatal: true, code: ErrorCode.BAD_REQUEST });
    if (!decoded.ok) expect(decoded.error.length).toBeLessThan(300);
    // Plain msgpack with a junk byte after it: refused for the trailing byte.
    const junk = decodeClientMessage(Uint8Array.from([...encode({ op: "kv.put", id: 1, key: "k", value: "v".repeat(10_000) }), 0x00]));
    expect(junk).toEqual({ ok: false, fatal: true, code: ErrorCode.BAD_REQUEST, error: expect.stringMatching(/follow the message/) });
    if (!junk.ok) expect(junk.error.length).toBeLessThan(300);
  });

  it("answers values that would not come back as sent with an ordinary error carrying the request's id", () => {
    const cases = {
      "uint64 2^64 - 1": [{ op: "kv.put", id: 9, key: "k", value: 2n ** 64n - 1n }, ErrorCode.OUT_OF_RANGE],
      "int64 -2^63": [{ op: "kv.put", id: 9, key: "k", value: -(2n ** 63n) }, ErrorCode.OUT_OF_RANGE],
      "int64 2^53 as a counter delta": [{ op: "counter.add", id: 9, name: "c", delta: 2n ** 53n }, ErrorCode.OUT_OF_RANGE],
    } as const;
    for (const [label, [message, code]] of Object.entries(cases)) {
      const decoded = decodeClientMessage(independentEncode(message, { useBigInt64: true }));
      expect(decoded, label).toEqual({ ok: false, fatal: false, code, error: expect.any(String), id: 9 });
    }
    // No encoder at hand writes these maps (msgpackr decoded {1: "a"} as {"1": "a"} and renamed __proto__).
    const maps = {
      "an integer map key": [0x81, 0x01, 0xa1, 0x61],
      "a __proto__ key": [0x81, 0xa9, ...Buffer.from("__proto__"), 0x01],
    };
    for (const [label, map] of Object.entries(maps)) {
      const decoded = decodeClientMessage(requestWithRaw("kv.put", { id: 9, key: "k" }, "value", Uint8Array.from(map)));
      expect(decoded, label).toEqual({ ok: false, fatal: false, code: ErrorCode.BAD_REQUEST, error: expect.any(String), id: 9 });
    }
    // Safe 64-bit integers are plain numbers.
    expect(decodeClientMessage(independentEncode({ op: "counter.add", id: 9, name: "c", delta: 2n ** 53n - 1n }, { useBigInt64: true }))).toMatchObject({
      ok: true,
      message: { delta: 2 ** 53 - 1 },
    });
  });

  it("refuses a map that holds a key twice (msgpackr kept the last one silently)", () => {
    // {op: "kv.put", id: 4, key: "k", value: {a: 1, a: 2}}, and a message with `id` twice.
    const frame = requestWithRaw("kv.put", { id: 4, key: "k" }, "value", Uint8Array.of(0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02));
    expect(decodeClientMessage(frame)).toEqual({ ok: false, fatal: false, code: ErrorCode.BAD_REQUEST, error: expect.stringMatching(/same key twice/), id: 4 });
    const twice = Uint8Array.from([0x83, 0xa2, ...Buffer.from("op"), 0xa9, ...Buffer.from("kv.delete"), 0xa2, ...Buffer.from("id"), 0x05, 0xa2, ...Buffer.from("id"), 0x06]);
    expect(decodeClientMessage(twice)).toMatchObject({ ok: false, fatal: false, code: ErrorCode.BAD_REQUEST });
  });

  // A guard: today no schema path names a received key outside a union (whose inner paths are not
  // quoted), but codec.ts cuts every path element and the whole text should one ever do so.
  it("never quotes more than a bounded piece of a received value in an error", () => {
    const longKey = "k".repeat(20_000);
    let value: unknown = 1;
    for (let i = 0; i <= BOUNDS.maxValueDepth; i++) value = { [longKey]: value };
    const decoded = decodeClientMessage(encode({ op: "kv.put", id: 3, key: "k", value }));
    expect(decoded).toMatchObject({ ok: false, fatal: false, code: ErrorCode.BAD_REQUEST, id: 3 });
    if (!decoded.ok) expect(decoded.error.length).toBeLessThan(700);
    const unknown = decodeClientMessage(encode({ op: longKey, id: 3 }));
    expect(unknown).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_OP, id: 3 });
    if (!unknown.ok) expect(unknown.error.length).toBeLessThan(700);
  });

  it(`measures names in UTF-16 code units: ${BOUNDS.maxNameLength} units pass, one astral character more is OUT_OF_RANGE`, () => {
    const acquire = (name: string) => decodeClientMessage(encode({ op: "lock.acquire", id: 2, name, lease: 1 }));
    const fits = "😀".repeat(BOUNDS.maxNameLength / 2);
    expect(fits.length).toBe(BOUNDS.maxNameLength);
    expect(acquire(fits)).toMatchObject({ ok: true });
    // 257 code points, 514 UTF-16 units: zod's own maxLength (code points) let this through.
    expect(acquire(`${fits}😀`)).toMatchObject({ ok: false, fatal: false, code: ErrorCode.OUT_OF_RANGE, id: 2 });
    expect(acquire(`${fits}a`)).toMatchObject({ ok: false, code: ErrorCode.OUT_OF_RANGE });
    expect(acquire("")).toMatchObject({ ok: false, code: ErrorCode.OUT_OF_RANGE });
    const list = (prefix: string) => decodeClientMessage(encode({ op: "kv.list", id: 2, prefix }));
    expect(list("")).toMatchObject({ ok: true });
    expect(list(`${fits}😀`)).toMatchObject({ ok: false, code: ErrorCode.OUT_OF_RANGE });
  });
});

describe("decodeServerMessage", () => {
  it("applies the same scan: extension types, junk bytes and unsafe integers from a server are fatal", () => {
    const reply = { type: "reply", id: 1, result: { value: 1 } };
    expect(decodeServerMessage(encode(reply))).toMatchObject({ ok: true });
    expect(decodeServerMessage(referenceBomb(40, (value) => ({ ...reply, result: { value } })))).toMatchObject({ ok: false, fatal: true });
    expect(decodeServerMessage(Uint8Array.from([...encode(reply), 0xc0]))).toMatchObject({ ok: false, fatal: true });
    expect(decodeServerMessage(independentEncode({ ...reply, result: { value: 2n ** 60n } }, { useBigInt64: true }))).toMatchObject({
      ok: false,
      fatal: true,
      code: ErrorCode.OUT_OF_RANGE,
    });
  });
});
