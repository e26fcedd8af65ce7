import { decode as independentDecode, encode as independentEncode } from "@msgpack/msgpack";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BOUNDS, CLIENT_OPS, CloseCode, ErrorCode, type ServerMessage } from "@leasehold/protocol";
import type { LeaseholdServer } from "@leasehold/server";
import { createServer } from "@leasehold/server";
import { EXTENSION_TYPES, extensionFormats, referenceBomb, requestWithRaw } from "../support/hostile-frames.js";
import { Raw } from "../support/raw.js";

/**
 * The wire is plain msgpack, and values round-trip exactly in its data model or are refused with a
 * code (issue 11). Frames are written by an independent encoder (`@msgpack/msgpack`, not msgpackr)
 * and answers read with it too, through a real server:
 *
 * 1. Arbitrary values (64-bit integers as BigInt, float32 and float64, binary, strings, nested and
 *    shared structures, maps with integer keys or a key twice, nesting around the 64-level bound) are
 *    stored with `kv.put` and read back with `kv.get`: the value read equals the value sent (integer
 *    widths and float32 may be canonicalised, see PROTOCOL.md section 1), or, exactly when the value
 *    holds something leasehold cannot carry, the put is refused with OUT_OF_RANGE or BAD_REQUEST,
 *    with its id, and the connection stays.
 * 2. The same for counters: any msgpack integer encoding of a safe integer is taken, anything beyond
 *    is OUT_OF_RANGE.
 * 3. Every op with every extension format (any type number) or a shared-reference bomb in one of its
 *    fields, before or after hello: BAD_REQUEST and close 4000, at once.
 *
 * `FUZZ_RUNS` sets the number of runs of each property (default 60); `FUZZ_SEED` replays a failure.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const TIMEOUT_MS = RUNS * 500 + 30_000;

let server: LeaseholdServer;
let raw: Raw;
/** Every binary frame `raw` received, undecoded, for reading with the independent decoder. */
const frames: Uint8Array[] = [];
let run = 0;

beforeAll(async () => {
  server = await createServer({ host: "127.0.0.1", port: 0 });
});
afterAll(async () => {
  await server?.close();
});

// Values that no plain JavaScript value encodes: each is framed by hand around independently encoded parts.
class Float32 {
  constructor(readonly value: number) {}
}
/** A float64 whose value is an integer (a JavaScript encoder writes those as integers). */
class Float64 {
  constructor(readonly value: number) {}
}
class IntegerKeys {
  constructor(readonly entries: readonly (readonly [number, Model])[]) {}
}
class KeyTwice {
  constructor(
    readonly key: string,
    readonly first: Model,
    readonly second: Model,
  ) {}
}
type Model = null | boolean | number | bigint | string | Uint8Array | Float32 | Float64 | IntegerKeys | KeyTwice | Model[] | { [key: string]: Model };

const integer: fc.Arbitrary<Model> = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.constantFrom(2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n) + 1n, -(2n ** 53n), 2n ** 64n - 1n, -(2n ** 63n)),
  fc.oneof(fc.integer(), fc.constantFrom(2 ** 53 - 1, 2 ** 53, 2 ** 60, -(2 ** 60))).map((value) => new Float64(value)),
);
const leaf: fc.Arbitrary<Model> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  integer,
  fc.double(),
  fc.float().map((value) => new Float32(value)),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.constantFrom("__proto__", "constructor", ""),
  fc.uint8Array({ maxLength: 12 }),
);
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("__proto__", "toString", "1", ""));
const { model } = fc.letrec<{ model: Model }>((tie) => ({
  model: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { arbitrary: leaf, weight: 4 },
    fc.array(tie("model"), { maxLength: 4 }),
    fc.dictionary(key, tie("model"), { maxKeys: 4 }),
    // The same structure twice: a plain encoder writes it out twice; a reference would be refused.
    tie("model").map((shared) => [shared, shared]),
    fc.array(fc.tuple(fc.integer({ min: -5, max: 300 }), tie("model")), { minLength: 1, maxLength: 3 }).map((entries) => new IntegerKeys(entries)),
    fc.tuple(key, tie("model"), tie("model")).map(([name, first, second]) => new KeyTwice(name, first, second)),
    // Around the stored-value bound of 64 levels.
    fc.tuple(fc.integer({ min: BOUNDS.maxValueDepth - 3, max: BOUNDS.maxValueDepth + 3 }), leaf).map(([depth, inner]) => nestArrays(depth, inner)),
  ),
}));

describe("plain msgpack from an independent encoder", () => {
  // Raw connections end with each test.
  beforeEach(async () => {
    frames.length = 0;
    raw = await Raw.open(server.url);
    raw.socket.on("message", (data: Buffer) => frames.push(new Uint8Array(data)));
    await raw.hello();
  });

  it(
    "a kv.put value comes back from kv.get as sent, or is refused with a code exactly when it cannot be carried",
    async () => {
      await fc.assert(
        fc.asyncProperty(model, async (value) => {
          const name = `rt/${++run}`;
          const refusals = refusalsFor(value);
          const put = await send("kv.put", { key: name }, "value", encodeIndependently(value));
          if (refusals.size > 0) {
            expect(put.type === "error" && refusals.has(put.code), `refused with one of ${[...refusals].join(", ")}: ${JSON.stringify(put)}`).toBe(true);
            expect(raw.close).toBeUndefined();
            return;
          }
          expect(put, "stored").toMatchObject({ type: "reply" });
          const entry = (await readBack("kv.get", { key: name })) as { result: { entry: { value: unknown } } };
          expect(canonical(entry.result.entry.value)).toEqual(expected(value));
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
    TIMEOUT_MS,
  );

  it(
    "a counter takes any msgpack encoding of a safe integer and refuses the others with OUT_OF_RANGE",
    async () => {
      await fc.assert(
        fc.asyncProperty(integer, async (value) => {
          const name = `rt/${++run}`;
          const set = await send("counter.set", { name }, "value", encodeIndependently(value));
          const number = value instanceof Float64 ? value.value : Number(value);
          if (!Number.isSafeInteger(number)) {
            expect(set, "refused").toMatchObject({ type: "error", code: ErrorCode.OUT_OF_RANGE });
            return;
          }
          expect(set, "set").toMatchObject({ type: "reply" });
          const got = (await readBack("counter.get", { name })) as { result: { value: unknown } };
          expect(got.result.value).toBe(canonical(number));
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
    TIMEOUT_MS,
  );
});

describe("extension types and shared references in any op", () => {
  const placements = ["as the field", "inside an array", "as a map key"] as const;
  const fields = ["value", "name", "key", "lease", "agent", "prefix", "extra"];

  it(
    "every extension format or a reference bomb in a field of any op, before or after hello: BAD_REQUEST and close 4000",
    async () => {
      const payload = fc.oneof(
        fc.tuple(fc.constantFrom(...EXTENSION_TYPES), fc.constantFrom(...Object.keys(extensionFormats(0)))).map(([type, format]) => extensionFormats(type)[format]!),
        fc.integer({ min: 1, max: 40 }).map((depth) => referenceBomb(depth)),
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...CLIENT_OPS), fc.constantFrom(...fields), fc.constantFrom(...placements), payload, fc.boolean(), async (op, field, placement, bytes, greeted) => {
          const attacker = await Raw.open(server.url);
          if (greeted) await attacker.hello();
          const inner = placement === "as the field" ? bytes : placement === "inside an array" ? Uint8Array.from([0x92, 0x01, ...bytes]) : Uint8Array.from([0x81, ...bytes, 0x01]);
          attacker.socket.send(requestWithRaw(op, { id: 1 }, field, inner));
          expect((await attacker.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
          expect(attacker.errorsBeforeClose()).toEqual([expect.objectContaining({ code: ErrorCode.BAD_REQUEST })]);
          attacker.socket.terminate();
        }),
        { numRuns: RUNS, seed: SEED },
      );
      // The server still serves.
      const witness = await Raw.open(server.url);
      await witness.hello();
      expect(await witness.request({ op: "counter.add", name: "alive", delta: 1 })).toMatchObject({ type: "reply" });
    },
    TIMEOUT_MS,
  );
});

/** Sends `op` with `field` holding raw msgpack bytes and the next request id; resolves with its answer. */
async function send(op: string, fields: Record<string, unknown>, field: string, bytes: Uint8Array): Promise<ServerMessage> {
  const id = ++raw.lastId;
  raw.socket.send(requestWithRaw(op, { ...fields, id }, field, bytes));
  return raw.next((message) => (message.type === "reply" || message.type === "error") && message.id === id);
}

/** Sends a request and returns its reply as the independent decoder reads the frame. */
async function readBack(op: string, fields: Record<string, unknown>): Promise<unknown> {
  const answer = await raw.request({ op, ...fields });
  expect(answer).toMatchObject({ type: "reply" });
  for (const frame of frames) {
    const decoded = independentDecode(frame) as { id?: number };
    if (decoded.id === raw.lastId) return decoded;
  }
  throw new Error(`no frame answers request ${raw.lastId}`);
}

/** @msgpack/msgpack writes what plain JavaScript values can say; values it cannot write (integer keys, a key twice, float32 or a float64 holding an integer among others) are framed here around parts it wrote. */
function encodeIndependently(value: Model): Uint8Array {
  if (isPlain(value)) return independentEncode(value, { useBigInt64: true });
  const parts: Uint8Array[] = [];
  const write = (item: Model): void => {
    if (item instanceof Float32) parts.push(independentEncode(item.value, { forceFloat32: true }));
    else if (item instanceof Float64) parts.push(float64(item.value));
    else if (item instanceof IntegerKeys) {
      parts.push(header(0x80, 0xde, item.entries.length));
      for (const [name, entry] of item.entries) {
        parts.push(independentEncode(name));
        write(entry);
      }
    } else if (item instanceof KeyTwice) {
      parts.push(header(0x80, 0xde, 2), independentEncode(item.key));
      write(item.first);
      parts.push(independentEncode(item.key));
      write(item.second);
    } else if (Array.isArray(item)) {
      parts.push(header(0x90, 0xdc, item.length));
      item.forEach(write);
    } else if (isMap(item)) {
      const names = Object.keys(item);
      parts.push(header(0x80, 0xde, names.length));
      for (const name of names) {
        parts.push(independentEncode(name));
        write(item[name]!);
      }
    } else parts.push(independentEncode(item, { useBigInt64: true }));
  };
  write(value);
  return Uint8Array.from(parts.flatMap((part) => [...part]));
}

/** The codes a value must be refused with, if any: what leasehold cannot carry exactly. */
function refusalsFor(value: Model): Set<ErrorCode> {
  const codes = new Set<ErrorCode>();
  const visit = (item: Model, depth: number): void => {
    if (typeof item === "bigint" && !Number.isSafeInteger(Number(item))) codes.add(ErrorCode.OUT_OF_RANGE);
    // Numbers that are not finite are not stored values.
    if ((typeof item === "number" && !Number.isFinite(item)) || (item instanceof Float32 && !Number.isFinite(item.value))) codes.add(ErrorCode.BAD_REQUEST);
    if (item instanceof IntegerKeys || item instanceof KeyTwice) codes.add(ErrorCode.BAD_REQUEST);
    const children = childrenOf(item);
    if (children === undefined) return;
    if (depth > BOUNDS.maxValueDepth) codes.add(ErrorCode.BAD_REQUEST);
    if (isMap(item) && Object.keys(item).includes("__proto__")) codes.add(ErrorCode.BAD_REQUEST);
    for (const child of children) visit(child, depth + 1);
  };
  visit(value, 1);
  return codes;
}

/** The value a reader gets back for a value that can be carried: integers and floats as numbers, -0 as 0 (PROTOCOL.md section 1). */
function expected(value: Model): unknown {
  if (value instanceof Float32) return canonical(Math.fround(value.value));
  if (value instanceof Float64) return canonical(value.value);
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(expected);
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, expected(item)]));
  return canonical(value);
}

function canonical(value: unknown): unknown {
  if (value === 0) return 0; // -0 travels as the integer 0
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, canonical(item)]));
  }
  return value;
}

function childrenOf(value: Model): Model[] | undefined {
  if (value instanceof IntegerKeys) return value.entries.map(([, item]) => item);
  if (value instanceof KeyTwice) return [value.first, value.second];
  if (Array.isArray(value)) return value;
  if (isMap(value)) return Object.values(value);
  return undefined;
}

function isMap(value: Model): value is { [key: string]: Model } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null; // fast-check makes both

}

function isPlain(value: Model): boolean {
  if (value instanceof Float32 || value instanceof Float64 || value instanceof IntegerKeys || value instanceof KeyTwice) return false;
  return (childrenOf(value) ?? []).every(isPlain);
}

function nestArrays(depth: number, inner: Model): Model {
  let value = inner;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function header(fix: number, sixteen: number, count: number): Uint8Array {
  return count < 16 ? Uint8Array.of(fix | count) : Uint8Array.of(sixteen, count >> 8, count & 0xff);
}

function float64(value: number): Uint8Array {
  const bytes = new Uint8Array(9);
  bytes[0] = 0xcb;
  new DataView(bytes.buffer).setFloat64(1, value);
  return bytes;
}
