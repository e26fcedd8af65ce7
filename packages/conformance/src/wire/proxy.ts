import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 in front of the server under test, so that resume scenarios can break the
 * network without the server's help: `cut()` destroys every connection (both sides see a reset),
 * `blackhole()` stops carrying bytes but keeps the sockets (a partition: what is in flight is lost
 * on the next cut), `dropReplies()` carries the client's bytes but throws the server's away (replies
 * lost on the way back), `delay(ms)` holds every chunk for `ms` in both directions. `restore()` heals
 * all of them; new connections during a cut or blackhole are refused.
 */
export class KitProxy {
  #server: Server | undefined;
  #pairs = new Set<{ client: Socket; upstream: Socket }>();
  #mode: "open" | "cut" | "blackhole" | "drop-replies" = "open";
  #delayMs = 0;

  constructor(readonly target: URL) {}

  /** Starts listening and returns the URL a connection through the proxy uses. */
  async start(): Promise<string> {
    const server = createServer((client) => this.#accept(client));
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the proxy has no port");
    return `ws://127.0.0.1:${address.port}${this.target.pathname}`;
  }

  cut(): void {
    this.#mode = "cut";
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
  }

  blackhole(): void {
    this.#mode = "blackhole";
  }

  dropReplies(): void {
    this.#mode = "drop-replies";
  }

  delay(ms: number): void {
    this.#delayMs = ms;
  }

  restore(): void {
    this.#mode = "open";
    this.#delayMs = 0;
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#mode === "cut" || this.#mode === "blackhole") {
      client.destroy();
      return;
    }
    const upstream = connect(Number(this.target.port || 80), this.target.hostname);
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.on("data", (chunk: Buffer) => this.#carry(chunk, upstream, "up"));
    upstream.on("data", (chunk: Buffer) => this.#carry(chunk, client, "down"));
  }

  #carry(chunk: Buffer, to: Socket, direction: "up" | "down"): void {
    // A blackhole loses what is in flight: the bytes never reach the other side, as on a dead route.
    if (this.#mode === "blackhole" || this.#mode === "cut") return;
    if (this.#mode === "drop-replies" && direction === "down") return;
    if (this.#delayMs === 0) to.write(chunk);
    else setTimeout(() => to.destroyed || to.write(chunk), this.#delayMs);
  }
}
