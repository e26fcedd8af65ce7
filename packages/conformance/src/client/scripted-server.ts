import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { Peer } from "./peer.js";
import { withTimeout } from "./verdict.js";

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
