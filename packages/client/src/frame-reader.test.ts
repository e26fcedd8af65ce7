import { Duplex } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { readFramesDirectly, stopReadingFramesDirectly } from "./frame-reader.js";
import { propertyRuns } from "../../../test/support/property-runs.js";
import { playReads, recordingStream, split, turnCounter, type Read } from "../../protocol/src/ws-frames.test-support.js";

/**
 * The client's reader against ws itself: the same server bytes, cut into the same reads, given to a ws
 * client socket alone and to one with the reader, must reach the transport's handler as the same
 * messages in the same turns, and make ws write and report the same (pongs, close frames and their codes,
 * errors): replies and pushes in order, a frame cut across reads, several in one read, a ping or a close
 * between frames, frames ws must refuse, a frame too large for the reader.
 */
const MAX_PAYLOAD = 300;

/** A frame as a server sends it (unmasked unless `key` is given), with RSV bits and an honest or a forced length. */
interface ServerFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Uint8Array;
  /** Masked with this key: a server must not mask (ws's client refuses it with 1002). */
  key?: Uint8Array;
  /** A 64-bit length field, which ws reads for any length. */
  long?: boolean;
}

function serverFrame({ fin, rsv, opcode, payload, key, long }: ServerFrame): Buffer {
  const length = payload.length;
  const extra = long || length > 0xffff ? 8 : length < 126 ? 0 : 2;
  const head = Buffer.alloc(2 + extra + (key ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (key ? 0x80 : 0) | (extra === 8 ? 127 : extra === 2 ? 126 : length);
  if (extra === 8) head.writeBigUInt64BE(BigInt(length), 2);
  else if (extra === 2) head.writeUInt16BE(length, 2);
  const body = Buffer.from(payload);
  if (key) {
    head.set(key, 2 + extra);
    for (let index = 0; index < body.length; index++) body[index] = (body[index] as number) ^ (key[index & 3] as number);
  }
  return Buffer.concat([head, body]);
}

/** What one ws client socket did with the reads: messages with their turns, errors, the frames it wrote back. */
async function feed(reads: readonly Read[], direct: boolean, stopAfter?: number): Promise<{ events: string[]; read: number }> {
  const events: string[] = [];
  const { stream, written } = recordingStream();
  // A client's socket as ws makes it (autoPong and synchronous events on, its defaults), on the stream.
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, { autoPong: true });
  (ws as unknown as { _isServer: boolean })._isServer = false;
  (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: object): void }).setSocket(stream, Buffer.alloc(0), { allowSynchronousEvents: true, maxPayload: MAX_PAYLOAD });
  const counter = turnCounter();
  let viaReceiver = 0;
  (ws as unknown as { _receiver: WebSocket })._receiver.on("message", () => viaReceiver++);
  let messages = 0;
  // As the transport: `onmessage` hands `event.data` to the handler the reader calls directly; a handler
  // that lets go of its socket (`stopAfter` messages) sets `onmessage` to null and stops the reader.
  const onData = (data: unknown): void => {
    messages++;
    events.push(`message turn ${counter.turn} ${data instanceof Uint8Array ? Buffer.from(data).toString("hex") : typeof data}`);
    if (messages === stopAfter) {
      ws.onmessage = null;
      stopReadingFramesDirectly(ws);
    }
  };
  ws.onmessage = (event) => onData(event.data);
  ws.on("error", (error: Error & { code?: string }) => events.push(`error ${error.code}`));
  if (direct) expect(readFramesDirectly(ws, onData)).toBe(true);
  events.push(...(await playReads(ws, { stream, written }, reads, 4, counter)));
  return { events, read: messages - viaReceiver };
}

const bytesOf = (text: string): Uint8Array => new Uint8Array(Buffer.from(text));
const binary = (payload: Uint8Array): Buffer => serverFrame({ fin: true, rsv: 0, opcode: 2, payload });

const reply = fc.uint8Array({ minLength: 1, maxLength: MAX_PAYLOAD }).map((payload) => [binary(payload)]);
const control = fc.record({ opcode: fc.constantFrom(0x9, 0xa), payload: fc.uint8Array({ maxLength: 125 }) }).map(({ opcode, payload }) => [serverFrame({ fin: true, rsv: 0, opcode, payload })]);
const text = fc.oneof(fc.string().map(bytesOf), fc.constant(new Uint8Array([0xc3, 0x28]))).map((payload) => [serverFrame({ fin: true, rsv: 0, opcode: 1, payload })]);
const empty = fc.constant([binary(new Uint8Array(0))]);
const fragmented = fc.record({ parts: fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 2, maxLength: 4 }), ping: fc.boolean() }).map(({ parts, ping }) => {
  const frames = parts.map((payload, index) => serverFrame({ fin: index === parts.length - 1, rsv: 0, opcode: index === 0 ? 2 : 0, payload }));
  // A control frame may come between a message's fragments.
  if (ping) frames.splice(1, 0, serverFrame({ fin: true, rsv: 0, opcode: 0x9, payload: bytesOf("pi") }));
  return frames;
});
const close = fc.constantFrom(1000, 1001, 4000, 4008, 999).map((code) => {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return [serverFrame({ fin: true, rsv: 0, opcode: 0x8, payload })];
});
/** Frames ws's client refuses: RSV bits (nothing was negotiated), a mask, a reserved opcode, past maxPayload, an unfinished control frame, a stray continuation. */
const bad = fc
  .record({ kind: fc.constantFrom("rsv1", "rsv3", "masked", "opcode", "oversized", "unfinished-control", "continuation"), payload: fc.uint8Array({ minLength: 1, maxLength: 20 }) })
  .map(({ kind, payload }) => {
    const frame: ServerFrame = { fin: true, rsv: 0, opcode: 2, payload };
    if (kind === "rsv1") frame.rsv = 4;
    if (kind === "rsv3") frame.rsv = 1;
    if (kind === "masked") frame.key = new Uint8Array([1, 2, 3, 4]);
    if (kind === "opcode") frame.opcode = 3;
    if (kind === "oversized") frame.payload = new Uint8Array(MAX_PAYLOAD + 1);
    if (kind === "unfinished-control") Object.assign(frame, { opcode: 0x9, fin: false });
    if (kind === "continuation") frame.opcode = 0;
    return [serverFrame(frame)];
  });
/** A common payload with a 64-bit length field, which the reader leaves to ws (which reads it as any other). */
const longForm = fc.uint8Array({ minLength: 1, maxLength: 20 }).map((payload) => [serverFrame({ fin: true, rsv: 0, opcode: 2, payload, long: true })]);

const frameLists = fc.array(fc.oneof({ weight: 12, arbitrary: reply }, control, text, empty, fragmented, longForm, { weight: 1, arbitrary: close }, { weight: 1, arbitrary: bad }), { minLength: 1, maxLength: 30 });

describe("readFramesDirectly (client)", () => {
  it("hands a read of replies and pushes to the handler without ws's Receiver, in order", async () => {
    const payloads = [bytesOf("reply one"), new Uint8Array(200).fill(7), bytesOf("push")];
    const { events, read } = await feed([{ bytes: Buffer.concat(payloads.map(binary)), nextTurn: false }], true);
    expect(events).toEqual(payloads.map((payload) => `message turn 0 ${Buffer.from(payload).toString("hex")}`));
    expect(read).toBe(3);
  });

  it("reads a frame cut across reads through ws, and the next whole one itself", async () => {
    const first = binary(bytesOf("split across two reads"));
    const second = binary(bytesOf("whole"));
    const reads = [
      { bytes: first.subarray(0, 5), nextTurn: true },
      { bytes: Buffer.concat([first.subarray(5), second]), nextTurn: false },
      { bytes: Buffer.from(second), nextTurn: false },
    ];
    const { events, read } = await feed(reads, true);
    expect(events).toEqual([`message turn 1 ${Buffer.from("split across two reads").toString("hex")}`, `message turn 1 ${Buffer.from("whole").toString("hex")}`, `message turn 1 ${Buffer.from("whole").toString("hex")}`]);
    // The first frame and what followed it in its read went to ws; the third read was the reader's.
    expect(read).toBe(1);
  });

  it("gives ws a ping and what follows it, after the frames before it", async () => {
    const bytes = Buffer.concat([binary(bytesOf("a")), serverFrame({ fin: true, rsv: 0, opcode: 9, payload: bytesOf("p") }), binary(bytesOf("b"))]);
    const { events, read } = await feed([{ bytes, nextTurn: false }], true);
    expect(events).toEqual(["message turn 0 61", "message turn 0 62", `wrote opcode 10 ${Buffer.from("p").toString("hex")}`]);
    expect(read).toBe(1);
  });

  it("delivers nothing after a close frame, as ws alone", async () => {
    const closing = Buffer.alloc(2);
    closing.writeUInt16BE(4008);
    const bytes = Buffer.concat([binary(bytesOf("a")), serverFrame({ fin: true, rsv: 0, opcode: 8, payload: closing }), binary(bytesOf("b"))]);
    const direct = await feed([{ bytes: Buffer.from(bytes), nextTurn: true }, { bytes: binary(bytesOf("c")), nextTurn: false }], true);
    const alone = await feed([{ bytes, nextTurn: true }, { bytes: binary(bytesOf("c")), nextTurn: false }], false);
    expect(direct.events).toEqual(alone.events);
    expect(direct.events).toEqual(["message turn 0 61", "wrote close 4008"]);
  });

  it("leaves a frame longer than 65,535 bytes to ws, between common frames read itself", async () => {
    const large = new Uint8Array(70_000).fill(0x5a);
    const bytes = Buffer.concat([binary(bytesOf("a")), binary(large), binary(bytesOf("b"))]);
    const reads = [{ bytes: bytes.subarray(0, 40_000), nextTurn: false }, { bytes: bytes.subarray(40_000), nextTurn: false }, { bytes: binary(bytesOf("c")), nextTurn: false }];
    // A reader's socket whose ws allows the large frame (the property's maxPayload is 300).
    const events: string[] = [];
    const stream = new Duplex({ read() {}, write: (_chunk, _encoding, callback) => callback() });
    const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, {});
    (ws as unknown as { _isServer: boolean })._isServer = false;
    (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: object): void }).setSocket(stream, Buffer.alloc(0), { allowSynchronousEvents: true, maxPayload: 0 });
    const onData = (data: unknown): void => void events.push(`${(data as Uint8Array).length} ${(data as Uint8Array)[0]}`);
    ws.onmessage = (event) => onData(event.data);
    expect(readFramesDirectly(ws, onData)).toBe(true);
    for (const read of reads) stream.emit("data", read.bytes);
    expect(events).toEqual(["1 97", "70000 90", "1 98", "1 99"]);
    ws.terminate();
  });

  it("stops handing out frames once the handler lets go of the socket, also within a read, as ws alone", async () => {
    const bytes = Buffer.concat(["a", "b", "c"].map((letter) => binary(bytesOf(letter))));
    const direct = await feed([{ bytes: Buffer.from(bytes), nextTurn: false }, { bytes: binary(bytesOf("d")), nextTurn: false }], true, 2);
    const alone = await feed([{ bytes, nextTurn: false }, { bytes: binary(bytesOf("d")), nextTurn: false }], false, 2);
    expect(direct.events).toEqual(alone.events);
    expect(direct.events).toEqual(["message turn 0 61", "message turn 0 62"]);
  });

  it("leaves each frame ws's client refuses to ws, after the replies before it: the same error and close code as ws alone", async () => {
    for (const refused of [{ rsv: 4 }, { rsv: 1 }, { key: new Uint8Array([1, 2, 3, 4]) }, { opcode: 3 }, { payload: new Uint8Array(MAX_PAYLOAD + 1) }, { opcode: 0 }]) {
      const bytes = Buffer.concat([binary(bytesOf("a")), serverFrame({ fin: true, rsv: 0, opcode: 2, payload: bytesOf("refused"), ...refused }), binary(bytesOf("b"))]);
      const direct = await feed([{ bytes: Buffer.from(bytes), nextTurn: false }], true);
      const alone = await feed([{ bytes, nextTurn: false }], false);
      expect(direct.events).toEqual(alone.events);
      expect(direct.events[0]).toBe("message turn 0 61");
      expect(direct.events[1]).toMatch(/^error WS_ERR_/);
    }
  });

  it("leaves a socket without ws's Receiver (a browser's WebSocket, a fake) as it is", () => {
    expect(readFramesDirectly({}, () => {})).toBe(false);
    expect(readFramesDirectly({ _receiver: { write: () => true, _state: 0 } }, () => {})).toBe(false);
    stopReadingFramesDirectly({});
  });

  it("for any server frames cut into any reads, the handler sees what it sees through ws alone, and ws writes and reports the same", async () => {
    let read = 0;
    // Cuts mostly where a frame ends, as most reads do (a read cut inside a frame goes to ws until its end).
    const runs = propertyRuns(25);
    await fc.assert(
      fc.asyncProperty(frameLists, fc.array(fc.oneof(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { weight: 3, arbitrary: fc.integer({ min: 1, max: 40 }) }), { maxLength: 10 }), fc.array(fc.boolean(), { maxLength: 5 }), async (frames, cuts, turnEnds) => {
        const reads = split(frames.flat(), cuts, turnEnds).map((read) => ({ bytes: Buffer.from(read.bytes), nextTurn: read.nextTurn }));
        const alone = await feed(reads, false);
        const direct = await feed(reads, true);
        expect(direct.events).toEqual(alone.events);
        read += direct.read;
      }),
      { numRuns: runs },
    );
    // The property is about the reader only if it read frames itself.
    expect(read).toBeGreaterThan(runs);
  });
});
