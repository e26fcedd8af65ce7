import WebSocket from "ws";
import { decodeMap, encode, type WireMap } from "./codec.js";

/** How a connection ended: the close code and reason the kit saw (1006 when no close frame came). */
export interface Closed {
  readonly code: number;
  readonly reason: string;
  readonly at: number;
}

/** A message from the server with the local time it arrived (performance.now()). */
export interface Received {
  readonly message: WireMap;
  readonly at: number;
}

/**
 * One WebSocket to the server under test, spoken in raw frames. Every incoming frame is decoded and
 * kept in arrival order; scenarios wait for the next one that matches. Pings are answered at once by
 * default (a conforming client does), which a scenario turns off to play a silent client.
 */
export class RawConnection {
  readonly received: Received[] = [];
  readonly closed: Promise<Closed>;
  answerPings = true;
  /** When the last frame left the kit (performance.now()): the server's `lastHeard` is no earlier. */
  lastSentAt = 0;
  #nextId = 1;
  #waiters = new Set<() => void>();
  #closedWith: Closed | undefined;

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.on("close", (code, reason) => {
        this.#closedWith = { code, reason: reason.toString(), at: performance.now() };
        resolve(this.#closedWith);
        this.#wake();
      });
    });
    socket.on("error", () => undefined);
    socket.on("message", (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
  }

  static async open(url: string, timeoutMs = 5_000): Promise<RawConnection> {
    const socket = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`could not open a WebSocket to ${url} within ${timeoutMs} ms`)), timeoutMs);
      socket.once("open", () => (clearTimeout(timer), resolve()));
      socket.once("error", (error) => (clearTimeout(timer), reject(new Error(`could not open a WebSocket to ${url}: ${error.message}`))));
    });
    return new RawConnection(socket);
  }

  get isClosed(): Closed | undefined {
    return this.#closedWith;
  }

  /** Request ids must grow for the life of a session; a resumed connection carries the count on. */
  nextId(): number {
    return this.#nextId++;
  }

  continueIdsFrom(connection: RawConnection): void {
    this.#nextId = Math.max(this.#nextId, connection.#nextId);
  }

  send(message: Record<string, unknown>): void {
    this.sendBytes(encode(message));
  }

  sendBytes(bytes: Uint8Array): void {
    this.lastSentAt = performance.now();
    this.socket.send(bytes, { binary: true });
  }

  sendText(text: string): void {
    this.lastSentAt = performance.now();
    this.socket.send(text, { binary: false });
  }

  /** Sends a request with a fresh id and returns the id. */
  request(op: string, fields: Record<string, unknown> = {}): number {
    const id = this.nextId();
    this.send({ op, id, ...fields });
    return id;
  }

  /** Waits for the reply or error to request `id`. */
  async answer(id: number, timeoutMs = 5_000): Promise<WireMap> {
    const { message } = await this.next((m) => (m.type === "reply" || m.type === "error") && m.id === id, timeoutMs, `the answer to request ${id}`);
    return message;
  }

  /** Sends a request and waits for its `reply`; an `error` fails with the server's code. */
  async call(op: string, fields: Record<string, unknown> = {}, timeoutMs = 5_000): Promise<WireMap> {
    const answer = await this.answer(this.request(op, fields), timeoutMs);
    if (answer.type !== "reply") throw new Error(`${op} was refused with ${String(answer.code)}: ${String(answer.message)}`);
    return answer.result as WireMap;
  }

  /** Sends a request and waits for its `error`; a `reply` fails. */
  async refused(op: string, fields: Record<string, unknown> = {}, timeoutMs = 5_000): Promise<WireMap> {
    const answer = await this.answer(this.request(op, fields), timeoutMs);
    if (answer.type !== "error") throw new Error(`${op} ${JSON.stringify(fields)} should have been refused but was answered ${JSON.stringify(answer.result)}`);
    return answer;
  }

  /**
   * The first message, from the start of the connection, that matches and was not taken before.
   * Taken messages are removed so that two waits never see the same one.
   */
  async next(match: (message: WireMap) => boolean, timeoutMs = 5_000, what = "a matching message"): Promise<Received> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex((entry) => match(entry.message));
      if (index >= 0) return this.received.splice(index, 1)[0]!;
      if (this.#closedWith) throw new Error(`the connection closed (${this.#closedWith.code} ${this.#closedWith.reason}) before ${what} arrived`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${what} did not arrive within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => (this.#waiters.delete(wake), resolve()), left);
        const wake = () => (clearTimeout(timer), this.#waiters.delete(wake), resolve());
        this.#waiters.add(wake);
      });
    }
  }

  /** Waits for the close; fails if it does not come in time. */
  async closes(timeoutMs = 5_000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.closed,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    if (!this.#closedWith) this.socket.terminate();
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    const at = performance.now();
    if (!isBinary) {
      this.received.push({ message: { type: "kit.text-frame", text: data.toString() }, at });
    } else {
      let message: WireMap;
      try {
        message = decodeMap(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      } catch (error) {
        message = { type: "kit.undecodable", reason: String(error) };
      }
      if (message.type === "ping" && this.answerPings) this.send({ op: "pong", seq: message.seq });
      this.received.push({ message, at });
    }
    this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
