import { decode, encode } from "@msgpack/msgpack";
import type { RawData, WebSocketServer as WsServer } from "../../packages/server/node_modules/@types/ws/index.js";
import { WebSocket, type RawWebSocket } from "../support/raw.js";

// `ws` comes from the server package (as in test/support/raw.ts); its server class rides on the same export.
const { WebSocketServer } = WebSocket;

type Message = Record<string, unknown>;
/** What the relay does with one server message: pass it (maybe changed), drop it, or hold it back. */
export type Breakage = (message: Message) => Message | "drop" | { delayMs: number };

/**
 * A WebSocket relay in front of a real server that breaks one rule on purpose (drops a push,
 * rewrites a field, delays a message), so a test can show that the conformance kit notices.
 * Client frames pass untouched; server frames go through `breakage`.
 */
export class BreakingRelay {
  #wss: WsServer | undefined;

  constructor(
    readonly upstreamUrl: string,
    readonly breakage: Breakage,
  ) {}

  async start(): Promise<string> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    this.#wss = wss;
    await new Promise<void>((resolve) => wss.once("listening", resolve));
    wss.on("connection", (client) => this.#relay(client));
    const address = wss.address();
    if (address === null || typeof address === "string") throw new Error("the relay has no port");
    return `ws://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    const wss = this.#wss;
    if (!wss) return;
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }

  #relay(client: RawWebSocket): void {
    const upstream = new WebSocket(this.upstreamUrl);
    const early: { data: RawData; isBinary: boolean }[] = [];
    client.on("message", (data: RawData, isBinary: boolean) => (upstream.readyState === WebSocket.OPEN ? upstream.send(data, { binary: isBinary }) : early.push({ data, isBinary })));
    upstream.on("open", () => early.splice(0).forEach(({ data, isBinary }) => upstream.send(data, { binary: isBinary })));
    upstream.on("message", (data: RawData) => {
      const outcome = this.breakage(decode(data as Buffer) as Message);
      if (outcome === "drop") return;
      if ("delayMs" in outcome && typeof outcome.delayMs === "number" && !("type" in outcome)) {
        setTimeout(() => client.readyState === WebSocket.OPEN && client.send(data, { binary: true }), outcome.delayMs);
        return;
      }
      client.send(encode(outcome), { binary: true });
    });
    const closeBoth = (code: number, reason: Buffer) => {
      const valid = code >= 1000 && code !== 1005 && code !== 1006;
      for (const socket of [client, upstream]) if (socket.readyState === WebSocket.OPEN) (valid ? socket.close(code, reason) : socket.terminate());
    };
    upstream.on("close", closeBoth).on("error", () => client.terminate());
    client.on("close", closeBoth).on("error", () => upstream.terminate());
  }
}
