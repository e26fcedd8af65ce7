import { once } from "node:events";
import { createRequire } from "node:module";
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { maskedFrame, sendBinary, type WsInternals } from "./frame-sender.js";
import type { WebSocketLike } from "./transport.js";

const WS_VERSION = (createRequire(import.meta.url)("ws/package.json") as { version: string }).version;

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const undo of cleanup.splice(0)) undo();
});

/** A real ws server on 127.0.0.1 and a ws client connected to it; the server's side records what it reads. */
async function connected(options: { perMessageDeflate?: boolean } = {}): Promise<{ client: WebSocket; received: Buffer[] }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: options.perMessageDeflate ?? false });
  await once(wss, "listening");
  const { port } = wss.address() as { port: number };
  const received: Buffer[] = [];
  wss.on("connection", (server) => server.on("message", (data: Buffer) => received.push(data)));
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: options.perMessageDeflate ?? true });
  cleanup.push(() => {
    client.terminate();
    wss.close();
  });
  await once(client, "open");
  return { client, received };
}

const bytes = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 7) & 0xff);

describe("sendBinary", () => {
  it("writes each message as one masked frame on ws's stream, which a ws server reads as sent, in order with ws's own sends", async () => {
    const { client, received } = await connected();
    // Spied on ws's sender: a spy on the socket's own `send` would replace it, which sends everything through it.
    const viaWs = vi.spyOn((client as unknown as Required<WsInternals>)._sender as unknown as { send(): void }, "send");
    const written = vi.spyOn((client as unknown as Required<WsInternals>)._sender._socket, "write");
    const payloads = [bytes(0), bytes(1), bytes(125), bytes(126), bytes(1_024), bytes(1_025), bytes(70_000)];
    for (const payload of payloads) sendBinary(client as unknown as WebSocketLike, payload);
    await vi.waitFor(() => expect(received).toHaveLength(payloads.length));
    expect(received.map((data) => [...data])).toEqual(payloads.map((payload) => [...payload]));
    // Up to 1 KiB straight to the stream, one write each; larger ones through ws (bufferutil masks them).
    expect(viaWs).toHaveBeenCalledTimes(2);
    expect(written.mock.calls.filter(([chunk]) => chunk.length <= 1_024 + 8)).toHaveLength(5);
  });

  it("goes through ws.send when compression was negotiated, or while ws's sender is busy", async () => {
    const deflating = await connected({ perMessageDeflate: true });
    const viaWs = vi.spyOn((deflating.client as unknown as Required<WsInternals>)._sender as unknown as { send(): void }, "send");
    sendBinary(deflating.client as unknown as WebSocketLike, bytes(10));
    expect(viaWs).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => expect(deflating.received).toHaveLength(1));

    const plain = await connected();
    const sender = (plain.client as unknown as Required<WsInternals>)._sender;
    const send = vi.spyOn(sender as unknown as { send(): void }, "send").mockImplementation(() => {});
    sender._state = 1;
    sendBinary(plain.client as unknown as WebSocketLike, bytes(10));
    sender._state = 0;
    sender._queue.push("queued");
    sendBinary(plain.client as unknown as WebSocketLike, bytes(10));
    sender._queue.pop();
    expect(send).toHaveBeenCalledTimes(2);
  });

  it("goes through ws.send when a subclass or the instance replaced it (to watch or change what goes out)", async () => {
    const { client, received } = await connected();
    const seen: number[] = [];
    const send = client.send.bind(client);
    client.send = ((data: Uint8Array) => {
      seen.push(data.length);
      send(data);
    }) as typeof client.send;
    sendBinary(client as unknown as WebSocketLike, bytes(10));
    class Watched extends WebSocket {}
    Object.defineProperty(Watched.prototype, "send", {
      value(this: WebSocket, data: Uint8Array) {
        seen.push(-1);
        (WebSocket.prototype.send as (data: Uint8Array) => void).call(this, data);
      },
    });
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(wss, "listening");
    const watched = new Watched(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    cleanup.push(() => {
      watched.terminate();
      wss.close();
    });
    await once(watched, "open");
    sendBinary(watched as unknown as WebSocketLike, bytes(10));
    expect(seen).toEqual([10, -1]);
    await vi.waitFor(() => expect(received).toHaveLength(1));
  });

  it("goes through send() on anything that is not ws (a browser's WebSocket)", () => {
    const socket = { readyState: 1, send: vi.fn() } as unknown as WebSocketLike;
    sendBinary(socket, bytes(10));
    expect(socket.send).toHaveBeenCalledWith(bytes(10));
  });
});

describe("maskedFrame", () => {
  it("is FIN + binary, masked, with the shortest length form, and the key differs from frame to frame", () => {
    const keys = new Set<string>();
    for (const [length, header] of [[0, 2], [125, 2], [126, 4], [65_535, 4], [65_536, 10]] as const) {
      const payload = bytes(length);
      const frame = maskedFrame(payload);
      expect(frame[0]).toBe(0x82);
      expect(frame[1]! & 0x80).toBe(0x80);
      const declared = header === 2 ? frame[1]! & 0x7f : header === 4 ? (frame[2]! << 8) | frame[3]! : Buffer.from(frame).readBigUInt64BE(2);
      expect(Number(declared)).toBe(length);
      const key = frame.subarray(header, header + 4);
      keys.add(key.join(","));
      expect(frame.length).toBe(header + 4 + length);
      expect(Uint8Array.from(frame.subarray(header + 4), (byte, i) => byte ^ key[i & 3]!)).toEqual(payload);
    }
    expect(keys.size).toBe(5);
  });
});

describe(`ws ${WS_VERSION} internals that frame-sender.ts reads`, () => {
  it("_sender._state, _sender._queue, _sender._socket and _extensions on an open client", async () => {
    const { client } = await connected();
    const { _sender: sender, _extensions: extensions } = client as unknown as WsInternals;
    const fix = `ws ${WS_VERSION} changed its Sender: fix idleStream in packages/client/src/frame-sender.ts`;
    expect(sender?._state, fix).toBe(0);
    expect(Array.isArray(sender?._queue), fix).toBe(true);
    expect(sender?._socket, fix).toBe((client as unknown as { _socket: unknown })._socket);
    expect(extensions, fix).toEqual({});
  });
});
