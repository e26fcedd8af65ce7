import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { CloseCode, useEnglishErrorMessages } from "@leasehold/protocol";
import { WebSocketServer } from "ws";
import { Connection } from "./connection.js";
import { Coordinator } from "./coordinator.js";
import { createHttpHandler, defaultBundlePath } from "./http/routes.js";
import { resolveOptions, type ServerOptions } from "./options.js";

export interface LeaseholdServer {
  /** Where clients connect: `ws://host:port`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The rules engine, for in-process inspection (tests, dashboards). */
  readonly coordinator: Coordinator;
  /** Stops accepting, closes every connection (clients may resume elsewhere), resolves when done. */
  close(): Promise<void>;
}

export async function createServer(options: ServerOptions = {}): Promise<LeaseholdServer> {
  useEnglishErrorMessages();
  const resolved = resolveOptions(options);
  const coordinator = new Coordinator(resolved);
  const connections = new Set<Connection>();
  const http = createHttpServer(createHttpHandler(options.browserBundlePath ?? defaultBundlePath()));
  const wss = new WebSocketServer({ noServer: true, maxPayload: resolved.limits.maxFrameBytes });

  http.on("upgrade", (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection = new Connection(ws, remoteAddress(request), coordinator);
      connections.add(connection);
      ws.on("close", () => connections.delete(connection));
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(resolved.port, resolved.host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;

  return {
    url: `ws://${host}:${address.port}`,
    host: address.address,
    port: address.port,
    coordinator,
    close() {
      closing ??= new Promise<void>((resolve) => {
        http.close(() => resolve());
        for (const connection of connections) connection.close(CloseCode.SERVICE_RESTART, "server shutting down");
        for (const session of coordinator.sessions.values()) {
          session.deadlineTimer?.cancel();
          for (const waiter of session.waits.values()) waiter.timer?.cancel();
        }
        // Sockets whose close handshake stalls must not hold the server open.
        setTimeout(() => {
          for (const client of wss.clients) client.terminate();
          http.closeAllConnections();
        }, 1_000).unref();
        wss.close();
      });
      return closing;
    },
  };
}

function remoteAddress(request: IncomingMessage): string {
  const socket = request.socket;
  return `${socket.remoteAddress ?? "unknown"}:${socket.remotePort ?? 0}`;
}
