import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 that a test can cut: `cut()` destroys every connection and refuses new
 * ones, `blackhole()` keeps connections open but stops carrying bytes (a partition), `restore()`
 * heals both.
 */
export class TcpProxy {
  #server: Server | undefined;
  #pairs = new Set<{ client: Socket; upstream: Socket }>();
  #mode: "open" | "cut" | "blackhole" = "open";

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  static forUrl(url: string): TcpProxy {
    const parsed = new URL(url);
    return new TcpProxy(parsed.hostname, Number(parsed.port));
  }

  async start(): Promise<string> {
    this.#server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no port");
    return `ws://127.0.0.1:${address.port}`;
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
    for (const pair of this.#pairs) {
      pair.client.pause();
      pair.upstream.pause();
    }
  }

  restore(): void {
    const wasBlackhole = this.#mode === "blackhole";
    this.#mode = "open";
    if (wasBlackhole) {
      for (const pair of this.#pairs) {
        pair.client.resume();
        pair.upstream.resume();
      }
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #accept(client: Socket): void {
    // New connections during a cut or a partition go nowhere.
    if (this.#mode !== "open") {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, this.targetHost);
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    // Paused sockets hold their bytes back (a blackhole); nothing is ever dropped mid-stream.
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => client.write(chunk));
  }
}
