import { describe, expect, it } from "vitest";
import { DROPPED, Kind, decodeEnvelope, encodeAck, encodeClose, encodeData, encodeFlow, encodeOpen } from "./link-envelope.js";

describe("link envelopes", () => {
  it("carry each kind with its stream id", () => {
    expect(decodeEnvelope(encodeOpen(0xffff_fffe, { ip: "::1", address: "[::1]:5000" }))).toEqual({ kind: Kind.OPEN, stream: 0xffff_fffe, peer: { ip: "::1", address: "[::1]:5000" } });
    expect(decodeEnvelope(encodeData(3, new Uint8Array([1, 2, 3])))).toEqual({ kind: Kind.BINARY, stream: 3, data: Buffer.from([1, 2, 3]) });
    expect(decodeEnvelope(encodeData(3, Buffer.from("hi"), false))).toEqual({ kind: Kind.TEXT, stream: 3, data: Buffer.from("hi") });
    expect(decodeEnvelope(encodeClose(4, 4006, "slow consumer"))).toEqual({ kind: Kind.CLOSE, stream: 4, code: 4006, reason: "slow consumer" });
    expect(decodeEnvelope(encodeClose(4, DROPPED, ""))).toEqual({ kind: Kind.CLOSE, stream: 4, code: DROPPED, reason: "" });
    expect(decodeEnvelope(encodeAck(5, 65_536))).toEqual({ kind: Kind.ACK, stream: 5, bytes: 65_536 });
    expect(decodeEnvelope(encodeFlow(6, Kind.PAUSE))).toEqual({ kind: Kind.PAUSE, stream: 6 });
    expect(decodeEnvelope(encodeFlow(6, Kind.RESUME))).toEqual({ kind: Kind.RESUME, stream: 6 });
  });

  it("name what is wrong with a malformed one", () => {
    expect(decodeEnvelope(Buffer.from([2, 0, 0]))).toMatch(/shorter than its 5-byte head/);
    expect(decodeEnvelope(Buffer.from([99, 0, 0, 0, 1]))).toMatch(/unknown envelope kind 99/);
    expect(decodeEnvelope(Buffer.from([Kind.CLOSE, 0, 0, 0, 1, 3]))).toMatch(/has no code/);
    expect(decodeEnvelope(Buffer.from([Kind.ACK, 0, 0, 0, 1, 0, 0]))).toMatch(/not a u32/);
    const open = (json: string) => Buffer.concat([Buffer.from([Kind.OPEN, 0, 0, 0, 1]), Buffer.from(json)]);
    expect(decodeEnvelope(open("not json"))).toMatch(/does not name the client's ip/);
    expect(decodeEnvelope(open(JSON.stringify({ ip: "", address: "x" })))).toMatch(/does not name/);
    expect(decodeEnvelope(open(JSON.stringify({ ip: "x".repeat(101), address: "x" })))).toMatch(/does not name/);
    expect(decodeEnvelope(open(JSON.stringify({ ip: 7, address: "x" })))).toMatch(/does not name/);
  });
});
