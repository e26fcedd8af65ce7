import { once } from "node:events";
import { describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { FRAMES_PER_TURN, TurnBudget } from "./turn-budget.js";

describe("TurnBudget", () => {
  // On a real ws socket, so that a ws that renamed the internal it relies on fails here.
  it("handles at most FRAMES_PER_TURN frames of one socket per turn of the event loop, all of them, in order", async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    const budget = new TurnBudget();
    const FRAMES = 1_000;
    const received: number[] = [];
    const perTurn: number[] = [];
    let thisTurn = 0;
    const done = new Promise<void>((resolve) => {
      server.on("connection", (socket) => {
        socket.on("message", (data: Buffer) => {
          budget.frame(socket);
          if (thisTurn++ === 0) setImmediate(() => (perTurn.push(thisTurn), (thisTurn = 0)));
          received.push(data.readUInt32BE(0));
          if (received.length === FRAMES) resolve();
        });
      });
    });
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    await once(client, "open");
    // One write: the server reads them all in one go.
    const raw = (client as unknown as { _socket: import("node:net").Socket })._socket;
    raw.cork();
    for (let i = 0; i < FRAMES; i++) {
      const frame = Buffer.alloc(4);
      frame.writeUInt32BE(i);
      client.send(frame);
    }
    raw.uncork();
    await done;
    await new Promise((resolve) => setImmediate(resolve));
    client.terminate();
    server.close();
    expect(received).toEqual(Array.from({ length: FRAMES }, (_, i) => i));
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(FRAMES_PER_TURN);
    expect(perTurn.length).toBeGreaterThanOrEqual(FRAMES / FRAMES_PER_TURN);
  });
});
