import { Duplex } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { readFramesDirectly } from "./frame-reader.js";
import { TurnBudget } from "./turn-budget.js";
import { propertyRuns } from "../../../../test/support/property-runs.js";
import { playReads, recordingStream, split, turnCounter, type Read } from "../../../protocol/src/ws-frames.test-support.js";

/**
 * The reader against ws itself: the same bytes, split into the same reads, given to a ws WebSocket alone
 * and to one with the reader, must reach the handler as the same messages in the same turns, and make
 * ws write and report the same (pongs, close frames and their codes, errors). The handler counts each
 * frame against a turn budget as the connection does, so that the budget's pacing is compared too.
 */
const MAX_PAYLOAD = 200;
const SERVER = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD });

/** A frame as a client sends it (masked unless `unmasked`), RSV bits and all, with an honest or a forced length. */
interface FrameSpec {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Uint8Array;
  key: Uint8Array;
  unmasked?: boolean;
  /** A 64-bit length field for a short payload, which ws reads as usual (lengths up to 2^53). */
  long?: boolean;
}

function frameBytes({ fin, rsv, opcode, payload, key, unmasked, long }: FrameSpec): Buffer {
  const length = payload.length;
  const lengthBytes = long ? 8 : length < 126 ? 0 : 2;
  const head = Buffer.alloc(2 + lengthBytes + (unmasked ? 0 : 4));
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (unmasked ? 0 : 0x80) | (long ? 127 : length < 126 ? length : 126);
  if (long) head.writeBigUInt64BE(BigInt(length), 2);
  else if (lengthBytes === 2) head.writeUInt16BE(length, 2);
  const body = Buffer.from(payload);
  if (!unmasked) {
    head.set(key, 2 + lengthBytes);
    for (let index = 0; index < body.length; index++) body[index] = (body[index] as number) ^ (key[index & 3] as number);
  }
  return Buffer.concat([head, body]);
}

/** What one WebSocket did with the reads: messages (with the turn they came in), errors, and the frames it wrote. */
async function run(reads: readonly Read[], direct: boolean): Promise<{ events: string[]; fastFrames: number }> {
  const events: string[] = [];
  const { stream, written } = recordingStream();
  // As WebSocketServer makes a server's socket, with its defaults and a maxPayload (ws/lib/websocket-server.js).
  const options = SERVER.options as WebSocket.ServerOptions & { allowSynchronousEvents: boolean; maxBufferedChunks: number; maxFragments: number };
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, options);
  (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: object): void }).setSocket(stream, Buffer.alloc(0), {
    allowSynchronousEvents: options.allowSynchronousEvents,
    maxBufferedChunks: options.maxBufferedChunks,
    maxFragments: options.maxFragments,
    maxPayload: options.maxPayload,
    skipUTF8Validation: options.skipUTF8Validation,
  });
  const turns = new TurnBudget();
  const counter = turnCounter();
  // Messages ws's Receiver emitted: the rest were read by the reader.
  let viaReceiver = 0;
  (ws as unknown as { _receiver: WebSocket })._receiver.on("message", () => viaReceiver++);
  let messages = 0;
  const onFrame = (data: WebSocket.RawData, isBinary: boolean): void => {
    messages++;
    events.push(`message turn ${counter.turn} ${isBinary ? "binary" : "text"} ${(data as Buffer).toString("hex")}`);
    turns.frame(ws);
  };
  ws.on("message", onFrame);
  ws.on("error", (error: Error & { code?: string }) => events.push(`error ${error.code}`));
  if (direct) expect(readFramesDirectly(ws, onFrame)).toBe(true);
  // Long enough for every message ws deferred (a turn per 16 frames, at most 40 frames here).
  events.push(...(await playReads(ws, { stream, written }, reads, 12, counter)));
  return { events, fastFrames: messages - viaReceiver };
}

const key = fc.uint8Array({ minLength: 4, maxLength: 4 });
const sometimesZeroKey = fc.oneof({ weight: 1, arbitrary: fc.constant(new Uint8Array(4)) }, { weight: 5, arbitrary: key });
const common = fc.record({ payload: fc.uint8Array({ minLength: 1, maxLength: MAX_PAYLOAD }), key: sometimesZeroKey }).map(({ payload, key }) => [frameBytes({ fin: true, rsv: 0, opcode: 2, payload, key })]);
const control = fc
  .record({ opcode: fc.constantFrom(0x9, 0xa), payload: fc.uint8Array({ maxLength: 125 }), key })
  .map(({ opcode, payload, key }) => [frameBytes({ fin: true, rsv: 0, opcode, payload, key })]);
const text = fc.record({ payload: fc.oneof(fc.string().map((s) => new Uint8Array(Buffer.from(s))), fc.constant(new Uint8Array([0xc3, 0x28]))), key }).map(({ payload, key }) => [frameBytes({ fin: true, rsv: 0, opcode: 1, payload, key })]);
const empty = key.map((key) => [frameBytes({ fin: true, rsv: 0, opcode: 2, payload: new Uint8Array(0), key })]);
const fragmented = fc
  .record({ parts: fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 2, maxLength: 4 }), key, ping: fc.boolean() })
  .map(({ parts, key, ping }) => {
    const frames = parts.map((payload, index) => frameBytes({ fin: index === parts.length - 1, rsv: 0, opcode: index === 0 ? 2 : 0, payload, key }));
    // A control frame may come between a message's fragments.
    if (ping) frames.splice(1, 0, frameBytes({ fin: true, rsv: 0, opcode: 0x9, payload: new Uint8Array([1, 2]), key }));
    return frames;
  });
const close = fc.record({ code: fc.constantFrom(1000, 1001, 4000, 999, 1005), key }).map(({ code, key }) => {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return [frameBytes({ fin: true, rsv: 0, opcode: 0x8, payload, key })];
});
/** Frames ws refuses, each with its close code: RSV bits, no mask, a reserved opcode, past maxPayload, a 64-bit length. */
const bad = fc
  .record({
    kind: fc.constantFrom("rsv1", "rsv2", "unmasked", "opcode", "oversized", "long", "unfinished-control", "continuation"),
    payload: fc.uint8Array({ minLength: 1, maxLength: 20 }),
    key,
  })
  .map(({ kind, payload, key }) => {
    const frame: FrameSpec = { fin: true, rsv: 0, opcode: 2, payload, key };
    if (kind === "rsv1") frame.rsv = 4;
    if (kind === "rsv2") frame.rsv = 2;
    if (kind === "unmasked") frame.unmasked = true;
    if (kind === "opcode") frame.opcode = 3;
    if (kind === "oversized") frame.payload = new Uint8Array(MAX_PAYLOAD + 1);
    if (kind === "long") frame.long = true;
    if (kind === "unfinished-control") Object.assign(frame, { opcode: 0x9, fin: false });
    if (kind === "continuation") frame.opcode = 0;
    return [frameBytes(frame)];
  });
/** A message's first fragment, then a new message before its last: ws refuses the second (1002). */
const interrupted = fc.record({ first: fc.uint8Array({ maxLength: 20 }), second: fc.uint8Array({ minLength: 1, maxLength: 20 }), key }).map(({ first, second, key }) => [
  frameBytes({ fin: false, rsv: 0, opcode: 2, payload: first, key }),
  frameBytes({ fin: true, rsv: 0, opcode: 2, payload: second, key }),
]);

const messages = fc.array(fc.oneof({ weight: 12, arbitrary: common }, control, text, empty, fragmented, { weight: 1, arbitrary: close }, { weight: 1, arbitrary: bad }, { weight: 1, arbitrary: interrupted }), {
  minLength: 1,
  maxLength: 40,
});

/** Copies, since both runs unmask in place. */
const copied = (reads: readonly Read[]): Read[] => reads.map((read) => ({ bytes: Buffer.from(read.bytes), nextTurn: read.nextTurn }));

describe("readFramesDirectly", () => {
  it("hands a read of common frames to the handler without ws's Receiver, in order, unmasked", async () => {
    const payloads = [Buffer.from("one"), Buffer.alloc(150, 7), Buffer.from([0x81, 0xa2, 0x6f, 0x70])];
    const bytes = Buffer.concat(payloads.map((payload, index) => frameBytes({ fin: true, rsv: 0, opcode: 2, payload, key: Buffer.from([index + 1, 0x5a, 0xa5, 0xff]) })));
    const { events, fastFrames } = await run([{ bytes, nextTurn: false }], true);
    expect(events).toEqual(payloads.map((payload) => `message turn 0 binary ${payload.toString("hex")}`));
    expect(fastFrames).toBe(3);
  });

  it("gives ws a ping and what follows it, after the frames before it", async () => {
    const k = Buffer.from([9, 8, 7, 6]);
    const bytes = Buffer.concat([
      frameBytes({ fin: true, rsv: 0, opcode: 2, payload: Buffer.from("a"), key: k }),
      frameBytes({ fin: true, rsv: 0, opcode: 9, payload: Buffer.from("p"), key: k }),
      frameBytes({ fin: true, rsv: 0, opcode: 2, payload: Buffer.from("b"), key: k }),
    ]);
    const { events, fastFrames } = await run([{ bytes, nextTurn: false }], true);
    expect(events).toEqual(["message turn 0 binary 61", "message turn 0 binary 62", `wrote opcode 10 ${Buffer.from("p").toString("hex")}`]);
    expect(fastFrames).toBe(1);
  });

  it("keeps the turn budget: 16 frames of a read in its turn, the rest in later turns, as through ws alone", async () => {
    const k = Buffer.from([1, 2, 3, 4]);
    const bytes = Buffer.concat(Array.from({ length: 40 }, (_, index) => frameBytes({ fin: true, rsv: 0, opcode: 2, payload: Buffer.from([index]), key: k })));
    const direct = await run([{ bytes: Buffer.from(bytes), nextTurn: false }], true);
    const alone = await run([{ bytes, nextTurn: false }], false);
    expect(direct.events).toEqual(alone.events);
    expect(direct.events.filter((event) => event.startsWith("message turn 0 ")).length).toBe(16);
    expect(direct.fastFrames).toBe(16);
  });

  it("leaves a socket whose Receiver is not as expected to ws", () => {
    expect(readFramesDirectly({}, () => {})).toBe(false);
    expect(readFramesDirectly({ _receiver: { write: () => true, _state: 0 } }, () => {})).toBe(false);
  });

  it("for any frames cut into any reads, the handler sees what it sees through ws alone, and ws writes and reports the same", async () => {
    let fast = 0;
    // Each case runs two WebSockets through a dozen turns (about 5 ms): 25 here, 100 in CI.
    const runs = propertyRuns(25);
    await fc.assert(
      fc.asyncProperty(messages, fc.array(fc.oneof(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 60 })), { maxLength: 12 }), fc.array(fc.boolean(), { maxLength: 6 }), async (frames, cuts, turnEnds) => {
        const reads = split(frames.flat(), cuts, turnEnds);
        const alone = await run(copied(reads), false);
        const direct = await run(copied(reads), true);
        expect(direct.events).toEqual(alone.events);
        fast += direct.fastFrames;
      }),
      { numRuns: runs },
    );
    // The property is about the reader only if it read frames itself. The frames it reads depend on the
    // cases drawn: over 40 runs of 25 cases the sum went from 17 to 62 (median 38), so "more than one a
    // case" failed about one run in ten; a quarter of one a case still fails a reader that leaves the
    // frames to ws (0), and was met by every run measured (100 cases, as CI runs it: 143 to 204).
    expect(fast).toBeGreaterThan(runs / 4);
  });
});
