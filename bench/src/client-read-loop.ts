import { Duplex } from "node:stream";
import WebSocket from "ws";
import { readFramesDirectly } from "../../packages/client/src/frame-reader.js";

/**
 * The client's side of frame-read-loop.ts: the CPU of reading one server frame, from the socket's 'data'
 * event to the function the client's `onmessage` hands `event.data` to, through ws's Receiver and its
 * MessageEvent alone, and with the client's frame-reader.ts in front of them, alternating, in one
 * process. Each read holds one unmasked binary frame of the size of a lock.acquire reply (40 bytes) or a
 * kv.get reply with a 100-byte value (150 bytes), as the plain rows' clients read them.
 *
 *   node --expose-gc --import tsx bench/src/client-read-loop.ts [--reads=300000] [--passes=5]
 *
 * One JSON line per pass, size and path: CPU ns per read (this process's user + system time).
 */
const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.replace(/^--/, "").split("=")) as [string, string][]);
const reads = Number(args.reads ?? 300_000);
const passes = Number(args.passes ?? 5);

/** A ws client's socket on an in-memory stream, its frames counted as the client's transport receives them. */
function clientSocket(direct: boolean): { stream: Duplex; frames: () => number } {
  const stream = new Duplex({ read() {}, write: (_chunk, _encoding, callback) => callback() });
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, {});
  // A client's Receiver (ws builds it from this in setSocket): it refuses masked frames.
  (ws as unknown as { _isServer: boolean })._isServer = false;
  (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: object): void }).setSocket(stream, Buffer.alloc(0), { allowSynchronousEvents: true, maxPayload: 100 * 1024 * 1024 });
  let frames = 0;
  const onData = (data: unknown): void => {
    if (data instanceof Uint8Array) frames++;
  };
  ws.onmessage = (event) => onData(event.data);
  if (direct && !readFramesDirectly(ws, onData)) throw new Error("ws's Receiver is not as the client's frame-reader.ts expects");
  return { stream, frames: () => frames };
}

function serverFrame(payloadBytes: number): Buffer {
  const header = payloadBytes < 126 ? 2 : 4;
  const frame = Buffer.alloc(header + payloadBytes, 0x61);
  frame[0] = 0x82;
  if (header === 2) frame[1] = payloadBytes;
  else {
    frame[1] = 126;
    frame.writeUInt16BE(payloadBytes, 2);
  }
  return frame;
}

function measure(direct: boolean, payloadBytes: number): { cpuNsPerRead: number } {
  const { stream, frames } = clientSocket(direct);
  const chunks = Array.from({ length: 1024 }, () => serverFrame(payloadBytes));
  const warmup = 20_000;
  for (let index = 0; index < warmup; index++) stream.emit("data", chunks[index & 1023]);
  globalThis.gc?.();
  const started = process.cpuUsage();
  for (let index = 0; index < reads; index++) stream.emit("data", chunks[index & 1023]);
  const used = process.cpuUsage(started);
  if (frames() !== reads + warmup) throw new Error(`${frames()} frames handled of ${reads + warmup}`);
  return { cpuNsPerRead: Math.round(((used.user + used.system) * 1_000) / reads) };
}

for (let pass = 1; pass <= passes; pass++) {
  for (const payloadBytes of [40, 150]) {
    const order = pass % 2 === 1 ? [false, true] : [true, false];
    for (const direct of order) console.log(JSON.stringify({ pass, payloadBytes, path: direct ? "frame-reader" : "ws Receiver", ...measure(direct, payloadBytes) }));
  }
}
