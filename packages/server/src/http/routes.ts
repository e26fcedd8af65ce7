import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dashboardPage } from "./dashboard-page.js";
import { demoLeaderPage } from "./demo-page.js";

/** Where the browser build of the client is, unless the server is told otherwise. */
export function defaultBundlePath(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve("@leasehold/client/browser-bundle");
  } catch {
    return undefined;
  }
}

/**
 * The HTTP side of the server: the dashboard at `/`, the leader-election demo at `/demo/leader`, the
 * browser bundle at `/leasehold.js`, and `/healthz`. WebSocket upgrades on any path go to the protocol.
 */
export function createHttpHandler(bundlePath: string | undefined) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(response, 405, "text/plain", "only GET is served here\n");
      return;
    }
    switch (path) {
      case "/":
        send(response, 200, "text/html; charset=utf-8", dashboardPage());
        return;
      case "/demo/leader":
        send(response, 200, "text/html; charset=utf-8", demoLeaderPage());
        return;
      case "/leasehold.js":
      case "/leasehold.js.map":
        void serveBundle(response, bundlePath, path.endsWith(".map"));
        return;
      case "/favicon.ico":
        response.writeHead(204).end();
        return;
      case "/healthz":
        send(response, 200, "text/plain", "ok\n");
        return;
      default:
        send(response, 404, "text/plain", "not found; the dashboard is at /, the demo at /demo/leader, clients connect with WebSocket\n");
    }
  };
}

async function serveBundle(response: ServerResponse, bundlePath: string | undefined, map: boolean): Promise<void> {
  if (bundlePath === undefined) {
    send(response, 503, "text/plain", "the browser bundle is not built; run `pnpm build`\n");
    return;
  }
  try {
    const body = await readFile(map ? `${bundlePath}.map` : bundlePath);
    response.writeHead(200, {
      "content-type": map ? "application/json" : "text/javascript; charset=utf-8",
      // Pages on other origins may import the client from here.
      "access-control-allow-origin": "*",
      "cache-control": "no-cache",
    });
    response.end(body);
  } catch {
    send(response, 503, "text/plain", `the browser bundle is missing at ${bundlePath}; run \`pnpm build\`\n`);
  }
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { "content-type": type, "cache-control": "no-cache" });
  response.end(body);
}
