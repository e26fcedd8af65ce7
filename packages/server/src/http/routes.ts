import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { IncomingMessage, ServerResponse } from "node:http";
import { DASHBOARD_CSS, DASHBOARD_HTML } from "./dashboard-page.js";
import { DASHBOARD_SCRIPT } from "./dashboard-script.js";
import { DEMO_LEADER_CSS, DEMO_LEADER_HTML, DEMO_LEADER_SCRIPT } from "./demo-page.js";
import { PAGE_CONNECTION_SCRIPT } from "./page-connection.js";
import { SECURITY_HEADERS } from "./security-headers.js";

/** Where the browser build of the client is, unless the server is told otherwise. */
export function defaultBundlePath(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve("@leasehold/client/browser-bundle");
  } catch {
    return undefined;
  }
}

const HTML = "text/html; charset=utf-8";
const CSS = "text/css; charset=utf-8";
const JAVASCRIPT = "text/javascript; charset=utf-8";

/** The pages and the scripts and styles they load (nothing inline: see security-headers.ts). */
const STATIC: ReadonlyMap<string, { type: string; body: string }> = new Map([
  ["/", { type: HTML, body: DASHBOARD_HTML }],
  ["/dashboard.css", { type: CSS, body: DASHBOARD_CSS }],
  ["/dashboard.js", { type: JAVASCRIPT, body: DASHBOARD_SCRIPT }],
  ["/demo/leader", { type: HTML, body: DEMO_LEADER_HTML }],
  ["/demo/leader.css", { type: CSS, body: DEMO_LEADER_CSS }],
  ["/demo/leader.js", { type: JAVASCRIPT, body: DEMO_LEADER_SCRIPT }],
  ["/page-connection.js", { type: JAVASCRIPT, body: PAGE_CONNECTION_SCRIPT }],
]);

/**
 * The HTTP side of the server: the dashboard at `/`, the leader-election demo at `/demo/leader` (with
 * their scripts and styles), the browser bundle at `/leasehold.js`, and `/healthz`. Every response
 * carries the security headers. WebSocket upgrades on any path go to the protocol.
 */
export function createHttpHandler(bundlePath: string | undefined) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(response, 405, "text/plain", "only GET is served here\n");
      return;
    }
    const page = STATIC.get(path);
    if (page) {
      send(response, 200, page.type, page.body);
      return;
    }
    switch (path) {
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
      "content-type": map ? "application/json" : JAVASCRIPT,
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
