import type { RawData, WebSocket } from "ws";
import type { ScriptedSession } from "./session.js";
import { ScenarioFailure } from "./verdict.js";
import { decodeClientFrame, describe, encode, type WireMap } from "../wire/codec.js";

/** A frame from the client and when it arrived (performance.now()). */
export interface Arrival {
  frame: WireMap;
  at: number;
}

/**
 * One connection from the client under test. Pongs are taken out of the stream (checked, and
 * counted into the session's `ack`); every other frame waits in order for `next`. A frame that is
 * not plain msgpack fails the scenario at the next `next`.
 */
export class Peer {
  readonly pongs: Array<{ seq: unknown; at: number }> = [];
  readonly #inbox: Arrival[] = [];
  #wake: (() => void) | undefined;
  #violation: string | undefined;
  #session: ScriptedSession | undefined;
  #pinger: ReturnType<typeof setInterval> | undefined;
  lastHeardAt = 0;

  constructor(readonly socket: WebSocket) {
    socket.on("message", (data: RawData, isBinary: boolean) => this.#receive(data, isBinary));
    socket.on("error", () => {});
    socket.once("close", () => {
      this.stopPinging();
      this.#wake?.();
    });
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(frame: WireMap): void {
    if (this.open) this.socket.send(encode(frame));
  }

  /** The next frame that is not a pong, or a failure naming `what` was expected. */
  async next(timeoutMs: number, what: string): Promise<Arrival> {
    const arrival = await this.poll(timeoutMs);
    if (arrival === undefined) {
      const closed = this.open ? "" : " (the connection is closed)";
      throw new ScenarioFailure(`expected ${what} within ${timeoutMs} ms, but the client sent nothing${closed}`);
    }
    return arrival;
  }

  /** The next frame that is not a pong, or undefined if none comes within `ms` (or the connection closes). */
  async poll(ms: number): Promise<Arrival | undefined> {
    await this.#until(() => this.#inbox.length > 0, ms);
    return this.#inbox.shift();
  }

  /** The `count`-th pong of this connection (1-based), or undefined if it does not come within `ms`. */
  async pong(count: number, ms: number): Promise<{ seq: unknown; at: number } | undefined> {
    await this.#until(() => this.pongs.length >= count, ms);
    return this.pongs[count - 1];
  }

  /** Waits until `done()`, `ms` pass or the connection closes; throws on a frame that broke the framing. */
  async #until(done: () => boolean, ms: number): Promise<void> {
    const until = performance.now() + ms;
    for (;;) {
      if (this.#violation !== undefined) throw new ScenarioFailure(`the client sent ${this.#violation}`);
      const left = until - performance.now();
      if (done() || left <= 0 || !this.open) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Answers pongs for `session` from now on (and counts them into its `ack`). */
  attach(session: ScriptedSession): void {
    this.#session = session;
  }

  /** Pings every `intervalMs`, each acknowledging the latest pong heard, as a server does (section 5). */
  startPinging(intervalMs: number): void {
    this.stopPinging();
    this.#pinger = setInterval(() => this.ping(), intervalMs);
  }

  stopPinging(): void {
    if (this.#pinger !== undefined) clearInterval(this.#pinger);
    this.#pinger = undefined;
  }

  /** Sends the session's next ping; returns its seq. */
  ping(): number {
    const session = this.#requireSession();
    const seq = ++session.lastPingSeq;
    this.send({ type: "ping", seq, ack: session.ackedSeq });
    session.ackedAt = session.pongArrivals.get(session.ackedSeq) ?? session.ackedAt;
    return seq;
  }

  /** Stops the connection as a network failure would: no close frame (the client sees 1006). */
  cut(): void {
    this.stopPinging();
    this.socket.terminate();
  }

  end(): void {
    this.stopPinging();
    if (this.socket.readyState !== this.socket.CLOSED) this.socket.terminate();
  }

  #requireSession(): ScriptedSession {
    if (this.#session === undefined) throw new Error("the scenario pings before its session is open");
    return this.#session;
  }

  #receive(data: RawData, isBinary: boolean): void {
    const at = performance.now();
    this.lastHeardAt = at;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const frame = decodeClientFrame(bytes, isBinary);
    if (typeof frame === "string") this.#violation ??= frame;
    else if (frame.op === "pong") this.#takePong(frame, at);
    else this.#inbox.push({ frame, at });
    this.#wake?.();
  }

  #takePong(frame: WireMap, at: number): void {
    const session = this.#session;
    const seq = frame.seq;
    // Section 5: a pong has no id, and answers a ping that was sent.
    if (frame.id !== undefined) this.#violation ??= `a pong with an id (${describe(frame)}); a pong is not a request`;
    else if (session === undefined) this.#violation ??= `a pong before the kit sent any ping (${describe(frame)})`;
    else if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 1 || seq > session.lastPingSeq) {
      this.#violation ??= `a pong for a ping the kit never sent (${describe(frame)}; the last ping was seq ${session.lastPingSeq})`;
    } else if (seq > session.ackedSeq) {
      session.ackedSeq = seq;
      session.pongArrivals.set(seq, at);
    }
    this.pongs.push({ seq, at });
  }
}
