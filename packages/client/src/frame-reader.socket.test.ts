import { once } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { readFramesDirectly } from "./frame-reader.js";

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const undo of cleanup.splice(0)) undo();
});

/**
 * The ws internals the client's reader rests on, on real sockets (a canary for an upgrade of ws): a ws
 * client's Receiver is as the reader expects once the socket is open, the server's binary frames reach the
 * handler without the Receiver's `_write`, and a ping still goes through ws, which answers it.
 */
describe("the client's frame reader on a real ws client", () => {
  it("reads the server's frames itself, in order, and leaves a ping to ws, which answers it", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
    await once(wss, "listening");
    const { port } = wss.address() as { port: number };
    const pongs: string[] = [];
    const accepted = new Promise<WebSocket>((resolve) => wss.on("connection", resolve));
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    cleanup.push(() => {
      client.terminate();
      wss.close();
    });
    const received: string[] = [];
    const onData = (data: unknown): void => void received.push(Buffer.from(data as Uint8Array).toString());
    client.onmessage = (event) => onData(event.data);
    await once(client, "open");
    expect(readFramesDirectly(client, onData)).toBe(true);
    const receiverWrite = vi.spyOn((client as unknown as { _receiver: { _write(): void } })._receiver, "_write");
    // The TCP socket under ws hands its reads to ws's listener without a 'data' emit (protocol/src/read-shortcut.ts).
    const tcp = (client as unknown as { _socket: { emit(event: string): boolean } })._socket;
    expect(Object.hasOwn(tcp, "push")).toBe(true);
    const emit = vi.spyOn(tcp, "emit");
    const server = await accepted;
    server.on("pong", (data: Buffer) => pongs.push(data.toString()));
    for (const text of ["one", "two", "x".repeat(300)]) server.send(Buffer.from(text));
    await vi.waitFor(() => expect(received).toHaveLength(3));
    expect(receiverWrite).not.toHaveBeenCalled();
    expect(emit.mock.calls.filter(([event]) => event === "data")).toEqual([]);
    server.ping(Buffer.from("are you there"));
    server.send(Buffer.from("after the ping"));
    await vi.waitFor(() => expect(pongs).toEqual(["are you there"]));
    await vi.waitFor(() => expect(received).toEqual(["one", "two", "x".repeat(300), "after the ping"]));
    expect(receiverWrite).toHaveBeenCalled();
  });
});
