import { Duplex } from "node:stream";
import WebSocket, { WebSocketServer } from "ws";
import { readFramesDirectly as readClientFramesDirectly } from "../../packages/server/src/connection/frame-reader.js";
import { readFramesDirectly as readServerFramesDirectly } from "../../packages/client/src/frame-reader.js";
import { toolArgs } from "./infra/args.js";

/**
 * The cost of reading one frame, from the socket's 'data' event to the handler that gets its payload:
 * through ws's Receiver alone, and with our frame reader in front of it, alternating, in one process (a
 * part's cost, which an end-to-end A/B on a loaded machine cannot resolve).
 * - `--side=server` (the default): the server reading a client's frame to the connection's handler
 *   (server/src/connection/frame-reader.ts). Each read holds one masked binary frame of the size of a
 *   lock.acquire (60 bytes) or a kv.put of a 100-byte value (150 bytes).
 * - `--side=client`: the client reading a server's frame to the function its `onmessage` hands
 *   `event.data` to (client/src/frame-reader.ts). Each read holds one unmasked binary frame of the size of
 *   a lock.acquire reply (40 bytes) or a kv.get reply with a 100-byte value (150 bytes).
 * Sizes as the plain rows' clients and server send them (one request in flight).
 *
 *   node --expose-gc --import tsx bench/src/frame-read-loop.ts [--side=server|client] [--reads=200000] [--passes=5]
 *
 * Prints one JSON line per pass, size and path: CPU ns per read (this process's user + system time, so
 * that other processes' load counts less than in wall time).
 */
const args = Object.fromEntries(toolArgs());
const reads = Number(args.reads ?? 200_000);
const passes = Number(args.passes ?? 5);
const side = args.side ?? "server";
if (side !== "server" && side !== "client") throw new Error(`--side must be server or client, got ${side}`);

interface Side {
  sizes: readonly number[];
  /** A ws socket on an in-memory stream, its frames counted as our handler receives them. */
  socket(direct: boolean): { stream: Duplex; frames: () => number };
  frame(payloadBytes: number): Buffer;
}

const SERVER = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

const SIDES: Record<"server" | "client", Side> = {
  server: {
    sizes: [60, 150],
    socket(direct) {
      const options = SERVER.options as WebSocket.ServerOptions & { allowSynchronousEvents: boolean; maxBufferedChunks: number; maxFragments: number };
      const { stream, ws } = wsOn(options, options);
      let frames = 0;
      const onFrame = (): void => void frames++;
      ws.on("message", onFrame);
      if (direct && !readClientFramesDirectly(ws, onFrame)) throw new Error("ws's Receiver is not as the server's frame-reader.ts expects");
      return { stream, frames: () => frames };
    },
    frame: (payloadBytes) => binaryFrame(payloadBytes, true),
  },
  client: {
    sizes: [40, 150],
    socket(direct) {
      const { stream, ws } = wsOn({}, { allowSynchronousEvents: true, maxPayload: 100 * 1024 * 1024 }, false);
      let frames = 0;
      const onData = (data: unknown): void => {
        if (data instanceof Uint8Array) frames++;
      };
      ws.onmessage = (event) => onData(event.data);
      if (direct && !readServerFramesDirectly(ws, onData)) throw new Error("ws's Receiver is not as the client's frame-reader.ts expects");
      return { stream, frames: () => frames };
    },
    frame: (payloadBytes) => binaryFrame(payloadBytes, false),
  },
};

/** A ws socket over an in-memory stream; `isServer` false makes a client's Receiver (ws builds it in setSocket), which refuses masked frames. */
function wsOn(options: object, socketOptions: object, isServer = true): { stream: Duplex; ws: WebSocket } {
  const stream = new Duplex({ read() {}, write: (_chunk, _encoding, callback) => callback() });
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, options);
  if (!isServer) (ws as unknown as { _isServer: boolean })._isServer = false;
  (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: object): void }).setSocket(stream, Buffer.alloc(0), { ...socketOptions });
  return { stream, ws };
}

/** A final binary frame of `payloadBytes` (under 64 KiB), masked as a client's or not as a server's. */
function binaryFrame(payloadBytes: number, masked: boolean): Buffer {
  const length = payloadBytes < 126 ? 2 : 4;
  const header = length + (masked ? 4 : 0);
  const frame = Buffer.alloc(header + payloadBytes, 0x61);
  frame[0] = 0x82;
  frame[1] = (masked ? 0x80 : 0) | (length === 2 ? payloadBytes : 126);
  if (length === 4) frame.writeUInt16BE(payloadBytes, 2);
  if (masked) frame.set([0x12, 0x34, 0x56, 0x78], length);
  return frame;
}

/** Each read gets its own copy of the frame, as a socket's reads do (a masked payload is unmasked in place). */
function measure(direct: boolean, payloadBytes: number): { cpuNsPerRead: number } {
  const { stream, frames } = SIDES[side as "server" | "client"].socket(direct);
  const frame = SIDES[side as "server" | "client"].frame(payloadBytes);
  const chunks = Array.from({ length: 1024 }, () => Buffer.from(frame));
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
  for (const payloadBytes of SIDES[side].sizes) {
    const order = pass % 2 === 1 ? [false, true] : [true, false];
    for (const direct of order) console.log(JSON.stringify({ side, pass, payloadBytes, path: direct ? "frame-reader" : "ws Receiver", ...measure(direct, payloadBytes) }));
  }
}
