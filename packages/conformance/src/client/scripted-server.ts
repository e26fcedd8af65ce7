import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { decodeFrame, describe, encodeFrame, type Frame } from "./wire.js";
import { ScenarioFailure, type ScriptedSession } from "./session.js";

/**
 * The kit's server: it listens, and hands each connection whose URL path names the scenario now
 * running to that scenario (the path is known at the upgrade, before any `hello`). Connections that
 * name another scenario are closed with 4000 and a reason saying which scenario runs.
 */
export class ScriptedServer {
  #stage: Stage | undefined;

  private constructor(
    readonly wss: WebSocketServer,
    readonly host: string,
    readonly port: number,
  ) {
    wss.on("connection", (socket, request) => this.#admit(socket, request));
  }

  static async listen(host: string, port: number): Promise<ScriptedServer> {
    const wss = new WebSocketServer({ host, port, maxPayload: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    return new ScriptedServer(wss, host, (wss.address() as AddressInfo).port);
  }

  /** `host:port` as a URL names it. */
  get authority(): string {
    return `${this.host.includes(":") ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Starts taking connections for `scenario`; ends the previous stage. */
  open(scenario: string): Stage {
    this.#stage?.end();
    this.#stage = new Stage(scenario, `ws://${this.authority}/${scenario}`);
    return this.#stage;
  }

  async close(): Promise<void> {
    this.#stage?.end();
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  #admit(socket: WebSocket, request: IncomingMessage): void {
    const scenario = (request.url ?? "/").replace(/^\/+/, "").split(/[?#]/)[0] ?? "";
    const stage = this.#stage;
    if (stage === undefined || stage.ended || stage.scenario !== scenario) {
      const running = stage && !stage.ended ? `"${stage.scenario}"` : "none";
      socket.close(4000, `no scenario "${scenario}" is running here (running: ${running})`.slice(0, 120));
      return;
    }
    stage.admit(new Peer(socket));
  }
}

/** The connections of one scenario run, in the order they arrived. */
export class Stage {
  readonly peers: Peer[] = [];
  ended = false;
  #taken = 0;
  readonly #waiting: Array<(peer: Peer) => void> = [];

  constructor(
    readonly scenario: string,
    /** The URL the client under test is told to connect to. */
    readonly url: string,
  ) {}

  admit(peer: Peer): void {
    this.peers.push(peer);
    this.#waiting.shift()?.(peer);
  }

  /** The next connection not yet taken; fails the scenario if none comes in time. */
  nextConnection(timeoutMs: number, what: string): Promise<Peer> {
    const taken = this.#taken;
    const ready = this.peers[taken];
    if (ready !== undefined) {
      this.#taken++;
      return Promise.resolve(ready);
    }
    return withTimeout(
      new Promise<Peer>((resolve) =>
        this.#waiting.push((peer) => {
          this.#taken++;
          resolve(peer);
        }),
      ),
      timeoutMs,
      `expected ${what} within ${timeoutMs} ms, but the client did not connect`,
    );
  }

  /** The latest arrival of any frame from the client on any connection of this scenario. */
  lastHeardAt(): number {
    return Math.max(0, ...this.peers.map((peer) => peer.lastHeardAt));
  }

  end(): void {
    this.ended = true;
    for (const peer of this.peers) peer.end();
  }
}

/** A frame from the client and when it arrived (performance.now()). */
export interface Arrival {
  frame: Frame;
  at: number;
}

/**
 * One connection from the client under test. Pongs are taken out of the stream (checked, and
 * counted into the session's `ack`); every other frame waits in order for `next`. A frame that is
 * not plain msgpack fails the scenario at the next `next`.
 */
export class Peer {
  readonly pongs: Array<{ seq: unknown; at: number; ackable: boolean }> = [];
  readonly #inbox: Arrival[] = [];
  #wake: (() => void) | undefined;
  #violation: string | undefined;
  #session: ScriptedSession | undefined;
  #pinger: ReturnType<typeof setInterval> | undefined;
  lastHeardAt = 0;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly socket: WebSocket) {
    socket.on("message", (data: RawData, isBinary: boolean) => this.#receive(data, isBinary));
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.once("close", (code: number, reason: Buffer) => {
        this.stopPinging();
        resolve({ code, reason: reason.toString() });
        this.#wake?.();
      }),
    );
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(frame: Frame): void {
    if (this.open) this.socket.send(encodeFrame(frame));
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
    const frame = decodeFrame(bytes, isBinary);
    if (typeof frame === "string") this.#violation ??= frame;
    else if (frame.op === "pong") this.#takePong(frame, at);
    else this.#inbox.push({ frame, at });
    this.#wake?.();
  }

  #takePong(frame: Frame, at: number): void {
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
    this.pongs.push({ seq, at, ackable: session !== undefined });
  }
}

/** Rejects with a `ScenarioFailure` saying `message` if `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ScenarioFailure(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
