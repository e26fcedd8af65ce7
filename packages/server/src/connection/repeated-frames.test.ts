import { describe, expect, it } from "vitest";
import { decodeClientMessage, encode } from "@leasehold/protocol";
import { REMEMBERED_FRAME_BYTES, RepeatedFrames } from "./repeated-frames.js";

const frame = (message: unknown): Buffer => Buffer.from(encode(message));

describe("RepeatedFrames", () => {
  it("gives a session's repeated frame the decoding of the one before, and decodes anything else as decodeClientMessage does", () => {
    const frames = new RepeatedFrames();
    const session = {};
    const stale = frame({ op: "counter.get", id: 1, name: "attack" });
    const first = frames.decode(session, stale);
    expect(first).toEqual(decodeClientMessage(stale));
    // The same bytes again, in another buffer: not decoded again.
    expect(frames.decode(session, Buffer.from(stale))).toBe(first);
    // Another session's identical frame, or other bytes of the same length, are decoded.
    const other = frames.decode({}, stale);
    expect(other).not.toBe(first);
    expect(other).toEqual(first);
    const sameLength = frame({ op: "counter.get", id: 2, name: "attack" });
    expect(sameLength.length).toBe(stale.length);
    expect(frames.decode(session, sameLength)).toEqual(decodeClientMessage(sameLength));
  });

  it("keeps a copy of the bytes: a read buffer reused for the next frame is not mistaken for the one before", () => {
    const frames = new RepeatedFrames();
    const session = {};
    const buffer = frame({ op: "counter.get", id: 1, name: "aaaa" });
    const first = frames.decode(session, buffer);
    buffer.set(frame({ op: "counter.get", id: 1, name: "bbbb" }));
    const second = frames.decode(session, buffer);
    expect(second).not.toBe(first);
    expect(second).toMatchObject({ ok: true, message: { name: "bbbb" } });
  });

  it("repeats a refusal of a frame that does not decode; remembers no frame above REMEMBERED_FRAME_BYTES", () => {
    const frames = new RepeatedFrames();
    const session = {};
    const junk = frame({ op: "no.such.op", id: 5 });
    const refused = frames.decode(session, junk);
    expect(refused).toMatchObject({ ok: false, fatal: false, id: 5 });
    expect(frames.decode(session, Buffer.from(junk))).toBe(refused);
    const large = frame({ op: "kv.put", id: 1, key: "k", value: "v".repeat(REMEMBERED_FRAME_BYTES) });
    const decoded = frames.decode(session, large);
    expect(decoded).toEqual(decodeClientMessage(large));
    expect(frames.decode(session, large)).not.toBe(decoded);
  });
});
