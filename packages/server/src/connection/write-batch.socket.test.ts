import { once } from "node:events";
import type { Socket } from "node:net";
import { CloseCode } from "@leasehold/protocol";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { cutOff } from "./cut-off.js";
import { frameOf, sendBinary } from "./frame-writer.js";
import { batchWrites, batchWritesForTurn } from "./write-batch.js";

/** ws's own stream under a WebSocket (the `raw` a Connection is given). */
const streamOf = (socket: WebSocket): Socket => (socket as unknown as { _socket: Socket })._socket;

let server: WebSocketServer | undefined;
afterEach(() => server?.close());

/** A ws server answering each frame as Connection.sendNow does, and a client; `answer` runs per frame. */
async function pair(answer: (socket: WebSocket, raw: Socket, data: Buffer) => void): Promise<{ client: WebSocket; writes: () => number; writevs: () => number }> {
  server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  let writes = 0;
  let writevs = 0;
  server.on("connection", (socket) => {
    const raw = streamOf(socket);
    // Every trip of the stream's buffered data to the kernel goes through one of these two.
    const writev = raw._writev?.bind(raw);
    const write = raw._write.bind(raw);
    raw._writev = (chunks, callback) => (writes++, writevs++, writev?.(chunks, callback));
    raw._write = (chunk, encoding, callback) => (writes++, write(chunk, encoding, callback));
    socket.on("message", (data: Buffer) => answer(socket, raw, data));
  });
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  await once(client, "open");
  return { client, writes: () => writes, writevs: () => writevs };
}

describe("batchWrites", () => {
  it("sends the replies to frames read together in one write, all of them, in order", async () => {
    const { client, writes } = await pair((socket, raw, data) => {
      batchWrites(raw);
      socket.send(data);
    });
    const FRAMES = 16;
    const received: number[] = [];
    const all = new Promise<void>((resolve) => client.on("message", (data: Buffer) => received.push(data.readUInt32BE(0)) === FRAMES && resolve()));
    // One write from the client: the server reads the frames together and answers each.
    const raw = streamOf(client);
    raw.cork();
    for (let i = 0; i < FRAMES; i++) client.send(Buffer.from([0, 0, 0, i]));
    raw.uncork();
    await all;
    expect(received).toEqual(Array.from({ length: FRAMES }, (_, i) => i));
    // Without the batch: one write per reply (16).
    expect(writes()).toBe(1);
    client.terminate();
  });

  it("writes what it holds before a cut-off destroys the socket: the reply and the close code arrive", async () => {
    const { client } = await pair((socket, raw, data) => {
      batchWrites(raw);
      socket.send(data);
      cutOff(socket, raw, CloseCode.RATE_LIMITED, "cut");
    });
    const received: Buffer[] = [];
    client.on("message", (data: Buffer) => received.push(data));
    const closed = once(client, "close");
    client.send(Buffer.from("last"));
    const [code] = (await closed) as [number];
    expect(received.map(String)).toEqual(["last"]);
    expect(code).toBe(CloseCode.RATE_LIMITED);
  });
});

describe("batchWritesForTurn", () => {
  it("sends what several sockets' callbacks of one turn pass on to one stream in one write, all of it, in order", async () => {
    // A follower's link in small: whatever any client sends is passed on to the sink's connection.
    // `pair` counts the writes of every connection; only the sink's (the first) write.
    const { client: sinkClient, writes } = await pair(() => {});
    const sinkConnection = [...server!.clients][0]!;
    const sink = { socket: sinkConnection, raw: streamOf(sinkConnection) };
    const senders = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const sender = new WebSocket(`ws://127.0.0.1:${(server!.address() as { port: number }).port}`);
        await once(sender, "open");
        return sender;
      }),
    );
    for (const connection of server!.clients) {
      if (connection === sinkConnection) continue;
      connection.on("message", (data: Buffer) => {
        batchWritesForTurn(sink.raw);
        sink.socket.send(data);
      });
    }
    const received: number[] = [];
    const all = new Promise<void>((resolve) => sinkClient.on("message", (data: Buffer) => received.push(data.readUInt32BE(0)) === senders.length && resolve()));
    const before = writes();
    for (const [index, sender] of senders.entries()) sender.send(Buffer.from([0, 0, 0, index]));
    // Block this thread (the server's too) for a moment, so that every frame is waiting in its socket
    // when the event loop next polls: the server reads them all in one poll phase, one callback each.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    await all;
    expect(received.sort()).toEqual([0, 1, 2, 3]);
    // Flushed at the end of each callback (batchWrites), or not batched: one write per frame (4).
    expect(writes() - before).toBe(1);
    for (const sender of senders) sender.terminate();
    sinkClient.terminate();
  });
});

describe("sendBinary", () => {
  const SIZES = [0, 1, 125, 126, 65_535, 65_536, 70_000];

  it("sends each message as one buffer in a plain write (no writev), intact at every header size, in order with ws's own sends", async () => {
    const { client, writes, writevs } = await pair((socket, raw, data) => {
      const size = data.readUInt32BE(0);
      const payload = Buffer.alloc(size, size % 251);
      // Every other reply through ws itself: the order on the wire must not change.
      if (data[4] === 1) socket.send(payload);
      else sendBinary(socket, raw, payload);
    });
    const received: Buffer[] = [];
    const sent: number[] = [];
    for (const [index, size] of SIZES.entries()) {
      const done = new Promise<void>((resolve) => client.once("message", (data: Buffer) => (received.push(data), resolve())));
      const request = Buffer.alloc(5);
      request.writeUInt32BE(size, 0);
      request[4] = index === 3 ? 1 : 0;
      sent.push(size);
      client.send(request);
      await done;
    }
    expect(received.map((data) => data.length)).toEqual(sent);
    for (const data of received) expect(data.every((byte) => byte === data.length % 251)).toBe(true);
    // One write per message; ws's own send (one of them) is the only writev (header and payload).
    expect(writevs()).toBe(1);
    expect(writes()).toBe(SIZES.length);
    client.terminate();
  });

  it("goes into the turn's batch, and into the socket's bufferedAmount (the slow-consumer rule's measure)", async () => {
    const seen: number[] = [];
    const { client, writes } = await pair((socket, raw, data) => {
      batchWrites(raw);
      sendBinary(socket, raw, data);
      sendBinary(socket, raw, data);
      seen.push(socket.bufferedAmount);
    });
    const both = new Promise<void>((resolve) => {
      let count = 0;
      client.on("message", () => ++count === 2 && resolve());
    });
    client.send(Buffer.alloc(200));
    await both;
    expect(seen).toEqual([2 * frameOf(new Uint8Array(200)).length]);
    expect(writes()).toBe(1);
    client.terminate();
  });
});
