import { Duplex } from "node:stream";
import WebSocket, { WebSocketServer } from "ws";
import { readFramesDirectly } from "../../packages/server/src/connection/frame-reader.js";

/**
 * The cost of reading one client frame, from the socket's 'data' event to the connection's handler:
 * through ws's Receiver alone, and with frame-reader.ts in front of it, alternating, in one process (a
 * part's cost, which an end-to-end A/B on a loaded machine cannot resolve). Each read holds one masked
 * binary frame of the size of a lock.acquire (60 bytes) or a kv.put of a 100-byte value (150 bytes), as
 * the plain rows' clients send them (one request in flight).
 *
 *   node --expose-gc --import tsx bench/src/frame-read-loop.ts [--reads=200000] [--passes=5]
 *
 * Prints one JSON line per pass, size and path: CPU ns per read (this process's user + system time, so
 * that other processes' load counts less than in wall time).
 */
const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.replace(/^--/, "").split("=")) as [string, string][]);
const reads = Number(args.reads ?? 200_000);
const passes = Number(args.passes ?? 5);
const SERVER = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

function socketPair(direct: boolean): { stream: Duplex; frames: () => number } {
  const stream = new Duplex({ read() {}, write: (_chunk, _encoding, callback) => callback() });
  const options = SERVER.options as WebSocket.ServerOptions & { allowSynchronousEvents: boolean; maxBufferedChunks: number; maxFragments: number };
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, options);
  (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: object): void }).setSocket(stream, Buffer.alloc(0), { ...options });
  let frames = 0;
  const onFrame = (): void => void frames++;
  ws.on("message", onFrame);
  if (direct && !readFramesDirectly(ws, onFrame)) throw new Error("ws's Receiver is not as frame-reader.ts expects");
  return { stream, frames: () => frames };
}

function maskedFrame(payloadBytes: number): Buffer {
  const header = payloadBytes < 126 ? 6 : 8;
  const frame = Buffer.alloc(header + payloadBytes, 0x61);
  frame[0] = 0x82;
  if (header === 6) frame[1] = 0x80 | payloadBytes;
  else {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(payloadBytes, 2);
  }
  frame.set([0x12, 0x34, 0x56, 0x78], header - 4);
  return frame;
}

/** Each read gets its own copy of the frame, as a socket's reads do (the payload is unmasked in place). */
function measure(direct: boolean, payloadBytes: number): { cpuNsPerRead: number } {
  const { stream, frames } = socketPair(direct);
  const frame = maskedFrame(payloadBytes);
  const chunks = Array.from({ length: 1024 }, () => Buffer.from(frame));
  for (let index = 0; index < 20_000; index++) stream.emit("data", chunks[index & 1023]);
  globalThis.gc?.();
  const started = process.cpuUsage();
  for (let index = 0; index < reads; index++) stream.emit("data", chunks[index & 1023]);
  const used = process.cpuUsage(started);
  if (frames() !== reads + 20_000) throw new Error(`${frames()} frames handled of ${reads + 20_000}`);
  return { cpuNsPerRead: Math.round(((used.user + used.system) * 1_000) / reads) };
}

for (let pass = 1; pass <= passes; pass++) {
  for (const payloadBytes of [60, 150]) {
    const order = pass % 2 === 1 ? [false, true] : [true, false];
    for (const direct of order) console.log(JSON.stringify({ pass, payloadBytes, path: direct ? "frame-reader" : "ws Receiver", ...measure(direct, payloadBytes) }));
  }
}
