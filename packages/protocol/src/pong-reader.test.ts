import { encode as independentEncode } from "@msgpack/msgpack";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeClientMessageFully, encode } from "./codec.js";
import { readPong } from "./pong-reader.js";
import { propertyRuns } from "../../../test/support/property-runs.js";

/** Each of msgpack's unsigned integer forms, at both of its ends. */
const EDGES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff];

describe("readPong", () => {
  it("reads the pongs clients send, every integer form, as the full path does", () => {
    for (const seq of EDGES) {
      for (const frame of [encode({ op: "pong", seq }), independentEncode({ op: "pong", seq })]) {
        expect(readPong(frame), `seq ${seq}`).toBe(seq);
        expect(decodeClientMessageFully(frame)).toStrictEqual({ ok: true, message: { op: "pong", seq } });
      }
    }
  });

  it("reads any 32-bit seq", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (seq) => {
        expect(readPong(encode({ op: "pong", seq }))).toBe(seq);
      }),
    );
  });

  it("leaves every other frame to the full path", () => {
    const others = [
      encode({ op: "pong", seq: 2 ** 32 }), // uint64
      encode({ op: "pong", seq: -1 }),
      encode({ op: "pong", seq: 1.5 }),
      encode({ op: "pong", seq: "1" }),
      encode({ seq: 1, op: "pong" }), // another key order: the full path reads it
      encode({ op: "pong", seq: 1, extra: true }),
      encode({ op: "ping", seq: 1 }),
      Uint8Array.of(...encode({ op: "pong", seq: 1 }), 0xc0), // a byte past the map
      encode({ op: "pong", seq: 300 }).slice(0, -1), // cut short
      new Uint8Array(0),
    ];
    for (const frame of others) expect(readPong(frame), Buffer.from(frame).toString("hex")).toBeUndefined();
  });

  it("never reads a frame otherwise than the full path (any bytes after the pong's prefix)", () => {
    const prefix = encode({ op: "pong", seq: 0 }).slice(0, -1);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9 }), (tail) => {
        const frame = Uint8Array.of(...prefix, ...tail);
        const seq = readPong(frame);
        if (seq !== undefined) expect(decodeClientMessageFully(frame)).toStrictEqual({ ok: true, message: { op: "pong", seq } });
      }),
      // 600 tails a run here (each of the 256 first bytes, the seq's msgpack type, comes about twice), 2,400 in CI.
      { numRuns: propertyRuns(600) },
    );
  });
});
