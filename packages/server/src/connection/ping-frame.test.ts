import { encode } from "@leasehold/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { frameOf } from "./frame-writer.js";
import { pingFrame } from "./ping-frame.js";

/** What the server wrote for a ping before pingFrame: the message encoded, then framed. */
const general = (seq: number, ack: number): Buffer => frameOf(encode({ type: "ping", seq, ack }));

describe("pingFrame", () => {
  // Each of msgpack's unsigned forms, at both of its ends.
  const EDGES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff];

  it("writes the bytes of the general path at the edges of every integer form", () => {
    for (const seq of EDGES) {
      for (const ack of EDGES) {
        const frame = pingFrame(seq, ack);
        if (frame === undefined || !general(seq, ack).equals(frame)) expect(frame, `seq ${seq}, ack ${ack}`).toEqual(general(seq, ack));
      }
    }
  });

  it("writes the bytes of the general path for any 32-bit seq and ack", () => {
    const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });
    fc.assert(
      fc.property(uint32, uint32, (seq, ack) => {
        const frame = pingFrame(seq, ack);
        const expected = general(seq, ack);
        // Bytes compared as bytes; vitest's matcher (and its diff) only for a mismatch.
        if (frame === undefined || !expected.equals(frame)) expect(frame).toEqual(expected);
      }),
    );
  });

  it("leaves a seq or ack past 32 bits to the general path", () => {
    expect(pingFrame(2 ** 32, 1)).toBeUndefined();
    expect(pingFrame(5, 2 ** 40)).toBeUndefined();
  });
});
