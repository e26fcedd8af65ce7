import { describe, expect, it } from "vitest";
import { encode } from "./codec.js";
import { ErrorCode } from "./codes.js";
import { scanFrame } from "./frame-scan.js";
import { BOUNDS } from "./limits.js";
import { EXTENSION_TYPES, extensionFormats, fixintArray } from "../../../test/support/hostile-frames.js";

/** A map of every plain msgpack format: the walk must read each of them, and each of its prefixes is truncated. */
const EVERY_FORMAT = bytes(
  0x8f, // fixmap of 15 entries
  0xa1, 0x61, 0x05, // "a": positive fixint
  0xa1, 0x62, 0xe0, // "b": negative fixint
  0xa1, 0x63, 0xc0, // "c": nil
  0xa1, 0x64, 0x92, 0xc2, 0xc3, // "d": [false, true]
  0xd9, 0x01, 0x65, 0xc4, 0x02, 0x01, 0x02, // str8 "e": bin8
  0xda, 0x00, 0x01, 0x66, 0xc5, 0x00, 0x01, 0xff, // str16 "f": bin16
  0xdb, 0x00, 0x00, 0x00, 0x01, 0x67, 0xc6, 0x00, 0x00, 0x00, 0x00, // str32 "g": bin32 (empty)
  0xa1, 0x68, 0xca, 0x3f, 0xc0, 0x00, 0x00, // "h": float32 1.5
  0xa1, 0x69, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, // "i": float64 1.5
  0xa1, 0x6a, 0xdc, 0x00, 0x04, 0xcc, 0xff, 0xcd, 0xff, 0xff, 0xce, 0xff, 0xff, 0xff, 0xff, 0xcf, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // "j": array16 of uint 8/16/32/64 (2^53-1)
  0xa1, 0x6b, 0xdd, 0, 0, 0, 4, 0xd0, 0x80, 0xd1, 0x80, 0x00, 0xd2, 0x80, 0, 0, 0, 0xd3, 0xff, 0xe0, 0, 0, 0, 0, 0, 1, // "k": array32 of int 8/16/32/64 (-(2^53-1))
  0xa1, 0x6c, 0xde, 0x00, 0x01, 0xa0, 0x90, // "l": map16 {"": []}
  0xa1, 0x6d, 0xdf, 0, 0, 0, 1, 0xa1, 0x78, 0x80, // "m": map32 {"x": {}}
  0xa1, 0x6e, 0xa4, 0xf0, 0x9f, 0x98, 0x80, // "n": "😀"
  0xa1, 0x6f, 0xd9, 0x00, // "o": str8 ""
);

describe("scanFrame", () => {
  it("reads every plain msgpack format and counts map entries", () => {
    expect(scanFrame(EVERY_FORMAT)).toEqual({ readable: true, mapEntries: 15 + 1 + 1, problem: undefined });
    expect(scanFrame(encode({ op: "lock.acquire", id: 7, name: "orders/42", lease: 3, wait: 5_000 }))).toEqual({ readable: true, mapEntries: 5, problem: undefined });
  });

  it("refuses every extension format with every type number, at the top and nested, whatever follows", () => {
    for (const type of EXTENSION_TYPES) {
      for (const [format, extension] of Object.entries(extensionFormats(type))) {
        const label = `${format}, type ${type}`;
        for (const frame of [extension, bytes(0x81, 0xa1, 0x76, extension), bytes(0x92, 0x01, 0x91, extension)]) {
          const scan = scanFrame(frame);
          expect(scan.readable, label).toBe(false);
          if (!scan.readable) expect(scan.error, label).toMatch(/extension type/);
        }
      }
    }
  });

  it("refuses 0xC1, which msgpack never uses", () => {
    for (const frame of [bytes(0xc1), bytes(0x91, 0xc1), bytes(0x81, 0xc1, 0x01), bytes(0x81, 0xa1, 0x61, 0xc1)]) {
      expect(scanFrame(frame)).toEqual({ readable: false, error: expect.stringMatching(/0xc1/) });
    }
  });

  it("refuses every proper prefix of a valid message as truncated, and the empty frame", () => {
    for (let length = 0; length < EVERY_FORMAT.length; length++) {
      expect(scanFrame(EVERY_FORMAT.subarray(0, length)).readable, `prefix of ${length} bytes`).toBe(false);
    }
  });

  it("refuses bytes after the one value", () => {
    for (const junk of [[0x00], [0xc0], [0x91, 0x01], [0xff]]) {
      const scan = scanFrame(bytes(EVERY_FORMAT, junk));
      expect(scan).toEqual({ readable: false, error: expect.stringMatching(/follow the message/) });
    }
  });

  it("refuses declared lengths beyond the end of the frame before reading on", () => {
    const huge = [0xff, 0xff, 0xff, 0xff];
    const frames = {
      str32: bytes(0xdb, huge, 0x61),
      bin32: bytes(0xc6, huge, 0x61),
      array32: bytes(0xdd, huge, 0x01),
      map32: bytes(0xdf, huge, 0xa1, 0x61, 0x01),
      str16: bytes(0xda, 0x01, 0x00, 0x61),
      "array16 one short": bytes(0xdc, 0x00, 0x03, 0x01, 0x02),
      "map16 one value short": bytes(0xde, 0x00, 0x02, 0xa1, 0x61, 0x01, 0xa1, 0x62),
      "float64 cut": bytes(0xcb, 0x3f, 0xf8),
      "uint64 cut": bytes(0xcf, 0, 0, 0),
    };
    for (const [label, frame] of Object.entries(frames)) expect(scanFrame(frame).readable, label).toBe(false);
  });

  it(`bounds nesting at BOUNDS.maxFrameDepth (${BOUNDS.maxFrameDepth}), empty containers included`, () => {
    const depth = BOUNDS.maxFrameDepth;
    expect(scanFrame(nested(depth, 0x91, 0xc0)).readable).toBe(true);
    expect(scanFrame(nested(depth - 1, 0x91, 0x90)).readable).toBe(true);
    expect(scanFrame(nested(depth, 0x91, 0x90))).toEqual({ readable: false, error: expect.stringMatching(/nest more than/) });
    expect(scanFrame(nested(depth + 1, 0x91, 0xc0))).toEqual({ readable: false, error: expect.stringMatching(/nest more than/) });
    expect(scanFrame(nested(50_000, 0x91, 0xc0)).readable).toBe(false);
    // Maps count as levels too, and a value stored 65 deep still fits in a frame.
    const maps = bytes(...Array.from({ length: depth }, () => [0x81, 0xa1, 0x61]), 0xc0);
    expect(scanFrame(maps).readable).toBe(true);
    expect(scanFrame(bytes(0x81, 0xa1, 0x61, maps)).readable).toBe(false);
  });

  it("bounds the values in a frame: one value fewer than the bound is readable, the bound itself is refused", () => {
    // A small bound, so that the walk is microseconds: the real one (BOUNDS.maxFrameNodes, 2^24) needs a
    // 16 MB frame, and the attack tier sends one to a client (test/hostile/frame-nodes.test.ts).
    const bound = 1_000;
    expect(scanFrame(fixintArray(bound - 1), bound).readable).toBe(true);
    expect(scanFrame(fixintArray(bound), bound)).toEqual({ readable: false, error: expect.stringMatching(/more than 1000 values/) });
    // Map keys count as values too: a map of n entries is 2n + 1 values.
    const map = bytes(0xde, 0x01, 0xf4, ...Array.from({ length: 500 }, () => [0xa1, 0x6b, 0x01]));
    expect(scanFrame(map, 2 * 500 + 1)).toMatchObject({ readable: true });
    expect(scanFrame(map, 2 * 500)).toEqual({ readable: false, error: expect.stringMatching(/more than 1000 values/) });
  });

  it("records 64-bit integers outside the safe range as OUT_OF_RANGE, and keeps the safe ones", () => {
    const uint64 = (high: number, low: number) => bytes(0xcf, be32(high), be32(low));
    const int64 = (high: number, low: number) => bytes(0xd3, be32(high), be32(low));
    const unsafe = {
      "2^64 - 1": uint64(0xffffffff, 0xffffffff),
      "2^53": uint64(0x200000, 0),
      "2^53 + 1": uint64(0x200000, 1),
      "int64 2^53": int64(0x200000, 0),
      "-2^63": int64(0x80000000, 0),
      "-2^53": int64(0xffe00000, 0),
      "-(2^53 + 1)": int64(0xffdfffff, 0xffffffff),
    };
    for (const [label, frame] of Object.entries(unsafe)) {
      expect(scanFrame(frame), label).toEqual({ readable: true, mapEntries: 0, problem: { code: ErrorCode.OUT_OF_RANGE, error: expect.stringMatching(/safe-integer range/) } });
    }
    const safe = { "2^53 - 1": uint64(0x1fffff, 0xffffffff), "-(2^53 - 1)": int64(0xffe00000, 1), "-1": int64(0xffffffff, 0xffffffff), "0": uint64(0, 0) };
    for (const [label, frame] of Object.entries(safe)) expect(scanFrame(frame), label).toEqual({ readable: true, mapEntries: 0, problem: undefined });
  });

  it("records map keys that are not strings, and the key __proto__, as BAD_REQUEST", () => {
    const frames = {
      "an integer key": bytes(0x81, 0x01, 0xa1, 0x61),
      "a nil key": bytes(0x81, 0xc0, 0x01),
      "an array key": bytes(0x81, 0x91, 0x01, 0x01),
      "a binary key": bytes(0x81, 0xc4, 0x01, 0x61, 0x01),
      "a float key": bytes(0x81, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0x01),
      "a nested integer key": bytes(0x81, 0xa1, 0x76, 0x82, 0xa1, 0x61, 0x01, 0x02, 0x03),
      "__proto__ as fixstr": bytes(0x81, 0xa9, ascii("__proto__"), 0x01),
      "__proto__ as str8": bytes(0x81, 0xd9, 0x09, ascii("__proto__"), 0x01),
    };
    for (const [label, frame] of Object.entries(frames)) {
      const scan = scanFrame(frame);
      expect(scan, label).toMatchObject({ readable: true, problem: { code: ErrorCode.BAD_REQUEST } });
    }
    // A string value (not a key) may be anything, "__proto__" and digits included.
    expect(scanFrame(bytes(0x82, 0xa1, 0x61, 0xa9, ascii("__proto__"), 0xa1, 0x31, 0x01))).toMatchObject({ readable: true, problem: undefined });
  });

  it("records strings that are not well-formed UTF-8 as BAD_REQUEST", () => {
    const invalid = {
      "a lone continuation byte": [0x80],
      "an overlong NUL": [0xc0, 0x80],
      "an overlong slash": [0xe0, 0x80, 0xaf],
      "a UTF-16 surrogate": [0xed, 0xa0, 0x80],
      "above U+10FFFF": [0xf4, 0x90, 0x80, 0x80],
      "0xF5": [0xf5, 0x80, 0x80, 0x80],
      "a cut sequence": [0xe2, 0x82],
      "a bad continuation": [0xe2, 0x28, 0xa1],
    };
    for (const [label, utf8] of Object.entries(invalid)) {
      expect(scanFrame(bytes(0xa0 | utf8.length, utf8)), label).toMatchObject({ readable: true, problem: { code: ErrorCode.BAD_REQUEST, error: expect.stringMatching(/UTF-8/) } });
    }
    for (const text of ["é", "€", "😀", "\u{10ffff}", "\u{d7ff}\u{e000}"]) {
      expect(scanFrame(encode(text)), text).toMatchObject({ readable: true, problem: undefined });
    }
  });

  it("keeps walking after a soft problem: a later extension or truncation is still fatal", () => {
    const unsafe = [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    expect(scanFrame(bytes(0x92, unsafe, 0xd4, 0x69, 0x00)).readable).toBe(false);
    expect(scanFrame(bytes(0x93, unsafe, 0x01)).readable).toBe(false);
    expect(scanFrame(bytes(0x82, 0x01, 0x02, 0xa1, 0x61, 0xc1)).readable).toBe(false);
    // The first problem is the one reported.
    expect(scanFrame(bytes(0x92, unsafe, bytes(0x81, 0x01, 0x02)))).toMatchObject({ problem: { code: ErrorCode.OUT_OF_RANGE } });
  });
});

type Part = number | number[] | Uint8Array | Part[];

function bytes(...parts: Part[]): Uint8Array {
  const flat: number[] = [];
  const add = (part: Part): void => {
    if (typeof part === "number") flat.push(part);
    else for (const item of part) add(item);
  };
  add(parts);
  return Uint8Array.from(flat);
}

function zeros(length: number): number[] {
  return new Array<number>(length).fill(0);
}

function be32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function ascii(text: string): number[] {
  return [...text].map((char) => char.charCodeAt(0));
}

/** `depth` one-element containers (`open`) around `inner`. */
function nested(depth: number, open: number, inner: number): Uint8Array {
  const frame = new Uint8Array(depth + 1).fill(open);
  frame[depth] = inner;
  return frame;
}
