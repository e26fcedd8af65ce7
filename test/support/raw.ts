import { createRequire } from "node:module";
import { connect as tcpConnect } from "node:net";
import { expect, vi } from "vitest";
import { PROTOCOL_VERSION, decodeServerMessage, encode, type ServerMessage, type Welcome } from "@leasehold/protocol";
// `ws` is a dependency of the server package, not of the workspace root: load it from there.
import type WsWebSocket from "../../packages/server/node_modules/@types/ws/index.js";
import { defer } from "./fixtures.js";

export const WebSocket = createRequire(new URL("../../packages/server/package.json", import.meta.url))("ws") as typeof WsWebSocket;
export type RawWebSocket = WsWebSocket;

/** How long `next` and `closed` wait, unless told. */
const TIMEOUT = 10_000;

/**
 * A WebSocket speaking the protocol by hand, for what the client library would never do: send broken
 * frames, stop reading, flood, skip the handshake. Terminated after the test, which then fails if the
 * server sent it a frame that does not decode: whatever it is sent, the server must only ever send
 * valid binary messages.
 */
export class Raw {
  readonly received: ServerMessage[] = [];
  /** Frames that failed `decodeServerMessage`. Recorded rather than thrown, which would surface away from the test. */
  readonly unreadable: string[] = [];
  /** How the socket closed; undefined while it is open. */
  close: { code: number; reason: string } | undefined;
  /** Set by `hello`. */
  welcome: Welcome | undefined;
  lastId = 0;
  /** Index into `received` at which the close arrived. */
  #closedAfter = -1;
  readonly #listeners: ((message: ServerMessage) => void)[] = [];

  private constructor(readonly socket: WsWebSocket) {
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      const decoded = isBinary ? decodeServerMessage(new Uint8Array(data)) : undefined;
      if (!decoded?.ok) this.unreadable.push(decoded ? decoded.error : "text frame");
      else {
        this.received.push(decoded.message);
        for (const listener of this.#listeners) listener(decoded.message);
      }
    });
    socket.on("close", (code: number, reason: Buffer) => {
      this.close = { code, reason: reason.toString() };
      this.#closedAfter = this.received.length;
    });
    socket.on("error", () => {});
  }

  /** Connects with `ws` client options (to shape the upgrade request, for one). */
  static async open(url: string, options: WsWebSocket.ClientOptions = {}): Promise<Raw> {
    const raw = new Raw(new WebSocket(url, undefined, options));
    defer(() => {
      raw.socket.terminate();
      expect(raw.unreadable, "frames from the server that do not decode").toEqual([]);
    });
    await new Promise<void>((resolve, reject) => {
      raw.socket.once("open", () => resolve());
      raw.socket.once("error", reject);
    });
    return raw;
  }

  /** Calls `listener` with every message that decodes, as it arrives (after it is in `received`). */
  onMessage(listener: (message: ServerMessage) => void): void {
    this.#listeners.push(listener);
  }

  send(message: unknown): void {
    this.socket.send(encode(message));
  }

  /** Sends a frame as it is: bytes as a binary frame, a string as a text frame. Nothing once the socket is no longer open. */
  sendRaw(frame: Uint8Array | string): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(frame, { binary: typeof frame !== "string" });
  }

  async hello(auth?: string): Promise<Welcome> {
    this.send({ op: "hello", version: PROTOCOL_VERSION, agent: "raw", auth });
    const welcome = await this.next((message) => message.type === "welcome");
    if (welcome.type !== "welcome") throw new Error("unreachable");
    this.welcome = welcome;
    return welcome;
  }

  /** Sends a request with the next id, without waiting. Returns the id. */
  fire(fields: Record<string, unknown>): number {
    const id = ++this.lastId;
    this.send({ ...fields, id });
    return id;
  }

  /** Sends a request with the next id and resolves with its reply or error. */
  request(fields: Record<string, unknown>): Promise<ServerMessage> {
    const id = this.fire(fields);
    return this.next((message) => (message.type === "reply" || message.type === "error") && message.id === id);
  }

  /**
   * Resolves with the answer to request `id`, or with undefined once the socket has closed or
   * `timeout` has passed: for senders of random input, to whom either is a fine outcome.
   */
  async answer(id: number, timeout = 3_000): Promise<ServerMessage | undefined> {
    const isAnswer = (message: ServerMessage) => (message.type === "reply" || message.type === "error") && message.id === id;
    try {
      await vi.waitFor(
        () => {
          if (!this.close && !this.received.some(isAnswer)) throw new Error("no answer yet");
        },
        { timeout, interval: 2 },
      );
    } catch {
      // Time ran out: no answer.
    }
    return this.received.find(isAnswer);
  }

  async grant(ttl: number): Promise<number> {
    const answer = await this.request({ op: "lease.grant", ttl });
    if (answer.type !== "reply" || typeof answer.result.lease !== "number") throw new Error(`lease.grant failed: ${JSON.stringify(answer)}`);
    return answer.result.lease;
  }

  /** The first message from index `from` of `received` on that matches. */
  next(match: (message: ServerMessage) => boolean, { from = 0, timeout = TIMEOUT }: { from?: number; timeout?: number } = {}): Promise<ServerMessage> {
    return vi.waitFor(
      () => {
        const found = this.received.slice(from).find(match);
        if (!found) throw new Error(`no matching message yet; ${this.#seen()}`);
        return found;
      },
      { timeout, interval: 5 },
    );
  }

  /** Resolves with the close once it has come. */
  closed(): Promise<{ code: number; reason: string }> {
    return vi.waitFor(
      () => {
        if (!this.close) throw new Error(`not closed yet; ${this.#seen()}`);
        return this.close;
      },
      { timeout: TIMEOUT, interval: 5 },
    );
  }

  replies(): ServerMessage[] {
    return this.received.filter((message) => message.type === "reply");
  }

  /** The error messages that arrived before the close (all of them, if the socket is still open). */
  errorsBeforeClose(): Extract<ServerMessage, { type: "error" }>[] {
    const upTo = this.#closedAfter < 0 ? this.received.length : this.#closedAfter;
    return this.received.slice(0, upTo).filter((message) => message.type === "error");
  }

  /** What came so far, for the message of a wait that timed out. */
  #seen(): string {
    return `received ${JSON.stringify(this.received)}; unreadable ${JSON.stringify(this.unreadable)}; close ${JSON.stringify(this.close)}`;
  }
}

/** A WebSocket upgrade from a plain TCP socket, as a client sends it: the HTTP status and body of the answer. */
export async function rawUpgrade(url: string): Promise<{ status: number; body: string }> {
  const socket = tcpConnect(Number(new URL(url).port), "127.0.0.1");
  socket.on("error", () => {});
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let answer = "";
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString("utf8")));
  await new Promise((resolve) => socket.on("close", resolve));
  const [head = "", body = ""] = answer.split("\r\n\r\n");
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), body };
}
