import WebSocket from "ws";

/** The smallest DevTools-protocol client (a server's V8 profiler, say): one request at a time. */
export class Inspector {
  #id = 0;
  private constructor(private readonly socket: WebSocket) {}

  static async open(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise((ok, fail) => socket.once("open", ok).once("error", fail));
    return new Inspector(socket);
  }

  /** Opens the first target of a process started with `--inspect=127.0.0.1:<port>`. */
  static async atPort(port: number): Promise<Inspector> {
    const [target] = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    if (target === undefined) throw new Error(`no inspector target on port ${port}`);
    return Inspector.open(target.webSocketDebuggerUrl);
  }

  call(method: string, params: object = {}): Promise<unknown> {
    const id = ++this.#id;
    return new Promise((ok) => {
      const onMessage = (data: Buffer): void => {
        const reply = JSON.parse(data.toString()) as { id?: number; result?: unknown };
        if (reply.id !== id) return;
        this.socket.off("message", onMessage);
        ok(reply.result);
      };
      this.socket.on("message", onMessage);
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.socket.close();
  }
}
