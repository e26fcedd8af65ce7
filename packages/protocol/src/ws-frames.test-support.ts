import { Duplex } from "node:stream";

/**
 * What the tests of the frame readers (server/src/connection/frame-reader.test.ts, client/src/frame-reader.test.ts)
 * share: reads given to a ws socket's stream turn by turn, the frames it wrote back, and frames cut into reads.
 */

/** One read of the socket, and whether the next one waits for a later turn of the event loop. */
export interface Read {
  bytes: Buffer;
  nextTurn: boolean;
}

/** An in-memory stream for a ws socket: what ws writes to it is kept in `written`. */
export function recordingStream(): { stream: Duplex; written: Buffer[] } {
  const written: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk);
      callback();
    },
  });
  return { stream, written };
}

/** Counts the event loop's turns while `running()` says so (each a setImmediate). */
export function turnCounter(): { readonly turn: number; stop(): void } {
  const counter = { turn: 0, running: true, stop: () => void (counter.running = false) };
  const tick = (): void => {
    counter.turn++;
    if (counter.running) setImmediate(tick);
  };
  setImmediate(tick);
  return counter;
}

/** Emits each read as the stream's 'data', waiting a turn after those that end theirs, then `settleTurns` more turns. */
export async function emitReads(stream: Duplex, reads: readonly Read[], settleTurns: number): Promise<void> {
  for (const read of reads) {
    stream.emit("data", read.bytes);
    if (read.nextTurn) await new Promise((resolve) => setImmediate(resolve));
  }
  for (let wait = 0; wait < settleTurns; wait++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Plays `reads` to the socket's stream (see emitReads), stops the turn counter and closes the socket:
 * the frames the socket wrote meanwhile (see writtenFrames).
 */
export async function playReads(socket: { terminate(): void }, recording: { stream: Duplex; written: Buffer[] }, reads: readonly Read[], settleTurns: number, counter: { stop(): void }): Promise<string[]> {
  await emitReads(recording.stream, reads, settleTurns);
  counter.stop();
  const frames = writtenFrames(Buffer.concat(recording.written));
  socket.terminate();
  return frames;
}

/** The frames ws wrote (a server's unmasked, a client's masked): opcode and payload, a close frame's code read out. */
export function writtenFrames(bytes: Buffer): string[] {
  const frames: string[] = [];
  let offset = 0;
  while (offset + 2 <= bytes.length) {
    const opcode = (bytes[offset] as number) & 0x0f;
    const masked = ((bytes[offset + 1] as number) & 0x80) !== 0;
    let length = (bytes[offset + 1] as number) & 0x7f;
    let start = offset + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(start);
      start += 2;
    }
    const key = masked ? bytes.subarray(start, start + 4) : undefined;
    if (key) start += 4;
    const payload = Buffer.from(bytes.subarray(start, start + length));
    if (key) for (let index = 0; index < payload.length; index++) payload[index] = (payload[index] as number) ^ (key[index & 3] as number);
    frames.push(opcode === 0x08 ? `wrote close ${payload.length >= 2 ? payload.readUInt16BE(0) : "none"}` : `wrote opcode ${opcode} ${payload.toString("hex")}`);
    offset = start + length;
  }
  return frames;
}

/**
 * The bytes of `frames`, cut at `cuts`: a cut below 1 is a fraction of the bytes (anywhere, in a header
 * or a payload), one from 1 up is the boundary after that many frames (a read that ends where a frame
 * does, as most do). Each read is marked to end its turn or not.
 */
export function split(frames: Buffer[], cuts: number[], turnEnds: boolean[]): Read[] {
  const bytes = Buffer.concat(frames);
  const boundaries = frames.map((_, index) => frames.slice(0, index + 1).reduce((sum, frame) => sum + frame.length, 0));
  const at = (cut: number): number => (cut < 1 ? Math.floor(cut * bytes.length) : (boundaries[Math.floor(cut) % boundaries.length] as number));
  const points = [...new Set(cuts.map(at))].filter((point) => point > 0 && point < bytes.length).sort((a, b) => a - b);
  const bounds = [0, ...points, bytes.length];
  return bounds.slice(1).map((end, index) => ({ bytes: bytes.subarray(bounds[index], end), nextTurn: turnEnds[index % Math.max(1, turnEnds.length)] ?? false }));
}
