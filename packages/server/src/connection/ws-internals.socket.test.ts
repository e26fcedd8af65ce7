import { once } from "node:events";
import { createRequire } from "node:module";
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { isLastFrameOfRead, readFramesDirectly } from "./frame-reader.js";

/**
 * Canaries for the `ws` internals the server relies on. None is public API, and a `ws`
 * upgrade that renames one breaks nothing loudly: turn-budget.ts would stop interleaving a flooding
 * socket with the others, handshake-budget.ts would count no fragments before a hello, and
 * frame-reader.ts would leave every frame to ws's Receiver again. These tests fail first, naming the
 * field and the module to fix.
 */
const WS_VERSION = (createRequire(import.meta.url)("ws/package.json") as { version: string }).version;

interface Receiver {
  _allowSynchronousEvents?: unknown;
  _fragments?: unknown;
}

function receiverOf(socket: WebSocket): Receiver | undefined {
  return (socket as unknown as { _receiver?: Receiver })._receiver;
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const undo of cleanup.splice(0)) undo();
});

/** A real ws server on 127.0.0.1, a client connected to it, and the server's side of the connection. */
async function connected(): Promise<{ client: WebSocket; server: WebSocket }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  const { port } = wss.address() as { port: number };
  const accepted = once(wss, "connection") as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  cleanup.push(() => {
    client.terminate();
    wss.close();
  });
  await once(client, "open");
  const [server] = await accepted;
  return { client, server };
}

describe(`ws ${WS_VERSION} internals`, () => {
  it("_receiver._allowSynchronousEvents, which turn-budget.ts writes: false defers the next message of a read to the next turn", async () => {
    const { client, server } = await connected();
    const receiver = receiverOf(server);
    expect(typeof receiver?._allowSynchronousEvents, `ws ${WS_VERSION} has no boolean _receiver._allowSynchronousEvents: fix setSynchronous in turn-budget.ts`).toBe("boolean");
    let sameTurn = true;
    const secondInSameTurn = new Promise<boolean>((resolve) => {
      let messages = 0;
      server.on("message", () => {
        if (++messages === 1) {
          receiver!._allowSynchronousEvents = false;
          // Queued before ws's own deferral of the next message, so it runs first.
          setImmediate(() => (sameTurn = false));
        } else resolve(sameTurn);
      });
    });
    // Both frames in one write, so that the server reads them in one go.
    const raw = (client as unknown as { _socket: import("node:net").Socket })._socket;
    raw.cork();
    client.send(Buffer.from("first"));
    client.send(Buffer.from("second"));
    raw.uncork();
    expect(await secondInSameTurn, `ws ${WS_VERSION} ignored _allowSynchronousEvents = false: turn-budget.ts no longer paces a flooding socket`).toBe(false);
  });

  it("_sender._state, _queue and _socket and _extensions, which frame-writer.ts reads: an idle sender writes a message to _socket at once", async () => {
    const { client, server } = await connected();
    const sender = (server as unknown as { _sender?: { _state?: unknown; _queue?: unknown; _socket?: unknown } })._sender;
    const fix = `fix sendBinary in frame-writer.ts (ws ${WS_VERSION})`;
    expect(sender?._state, `ws's idle sender state is no longer 0: ${fix}`).toBe(0);
    expect(Array.isArray(sender?._queue), `no array _sender._queue: ${fix}`).toBe(true);
    expect(sender?._socket, `_sender._socket is not the socket's stream: ${fix}`).toBe((server as unknown as { _socket: unknown })._socket);
    expect((server as unknown as { _extensions?: unknown })._extensions, `no _extensions object: ${fix}`).toEqual({});
    const stream = sender!._socket as import("node:net").Socket;
    stream.cork();
    server.send(Buffer.from("x"));
    expect(stream.writableLength, `ws no longer writes an idle sender's message to _sender._socket at once: ${fix}`).toBe(3);
    stream.uncork();
    const [data] = (await once(client, "message")) as [Buffer];
    expect(String(data)).toBe("x");
  });

  it("_receiver.write and the Receiver's state, which frame-reader.ts reads and stands in for: every chunk read reaches _receiver.write", async () => {
    const { client, server } = await connected();
    const fix = `fix frame-reader.ts (ws ${WS_VERSION})`;
    const received: string[] = [];
    const onFrame = (data: WebSocket.RawData): void => void received.push(String(data));
    server.on("message", onFrame);
    expect(readFramesDirectly(server, onFrame), `ws's Receiver is no longer as frame-reader.ts expects (hasExpectedShape): ${fix}`).toBe(true);
    const receiver = receiverOf(server) as object;
    const parsed = vi.spyOn(Object.getPrototypeOf(receiver) as { _write(...args: unknown[]): void }, "_write");
    cleanup.push(() => parsed.mockRestore());
    // The client's Receiver shares the prototype: only the server's calls count.
    const parsedHere = (): number => parsed.mock.contexts.filter((context) => context === receiver).length;
    client.send(Buffer.from("read directly"));
    await vi.waitFor(() => expect(received, `a binary frame no longer reaches the reader: ws's socket listener does not call _receiver.write: ${fix}`).toEqual(["read directly"]));
    expect(parsedHere(), `ws's Receiver parsed a frame the reader read: ${fix}`).toBe(0);
    // A ping goes to ws, which answers it: the Receiver is used, and is idle again after it.
    const pong = once(client, "pong");
    client.ping(Buffer.from("p"));
    await pong;
    expect(parsedHere()).toBe(1);
    client.send(Buffer.from("and again"));
    await vi.waitFor(() => expect(received).toEqual(["read directly", "and again"]));
    expect(parsedHere(), `the Receiver was not idle again after a ping (_state, _bufferedBytes, _writableState.length): ${fix}`).toBe(1);
  });

  it("_receiver._fragments, which handshake-budget.ts reads: the fragments held of a message not yet complete", async () => {
    const { client, server } = await connected();
    expect(Array.isArray(receiverOf(server)?._fragments), `ws ${WS_VERSION} has no array _receiver._fragments: fix heldFragments in handshake-budget.ts`).toBe(true);
    client.send(Buffer.from("one"), { fin: false });
    client.send(Buffer.from("two"), { fin: false });
    await vi.waitFor(() => expect((receiverOf(server)?._fragments as unknown[]).length).toBe(2));
  });
});

describe("isLastFrameOfRead (a reply to it is written at once, not batched: connection.ts)", () => {
  it("is true only while the reader hands out the last frame of a chunk, and only for that chunk's socket", async () => {
    const { client, server } = await connected();
    const other = await connected();
    const seen: [string, boolean, boolean][] = [];
    // As a Connection does: the same handler on ws's 'message' (frames ws's Receiver emits) and on the reader.
    const onFrame = (data: WebSocket.RawData): void => void seen.push([String(data), isLastFrameOfRead(server), isLastFrameOfRead(other.server)]);
    server.on("message", onFrame);
    expect(readFramesDirectly(server, onFrame)).toBe(true);
    const raw = (client as unknown as { _socket: import("node:net").Socket })._socket;
    const inOneWrite = (send: () => void): void => {
      raw.cork();
      send();
      raw.uncork();
    };
    inOneWrite(() => ["a", "b", "c"].forEach((text) => client.send(Buffer.from(text))));
    await vi.waitFor(() => expect(seen).toHaveLength(3));
    client.send(Buffer.from("alone"));
    await vi.waitFor(() => expect(seen).toHaveLength(4));
    // A ping after the frame in the same chunk: ws answers it in the same read, so the frame is not the read's last.
    const pong = once(client, "pong");
    inOneWrite(() => {
      client.send(Buffer.from("before a ping"));
      client.ping();
    });
    await pong;
    expect(seen).toEqual([
      ["a", false, false],
      ["b", false, false],
      ["c", true, false],
      ["alone", true, false],
      ["before a ping", false, false],
    ]);
    expect(isLastFrameOfRead(server), "outside a frame's handling").toBe(false);
  });
});
