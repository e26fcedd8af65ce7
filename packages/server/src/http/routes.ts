import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DASHBOARD_CSS, DASHBOARD_HTML } from "./dashboard-page.js";
import { DEMO_LEADER_CSS, DEMO_LEADER_HTML } from "./demo-page.js";
import { send } from "./respond.js";
import { SECURITY_HEADERS } from "./security-headers.js";

/**
 * Where the browser build of the client is, unless the server is told otherwise: beside the pages'
 * scripts, where `pnpm build` bundles it with them (see packages/client/scripts/bundle-pages.mjs). The
 * server ships its own copy rather than looking for the client package's, so that where (or whether)
 * npm installed @leasehold/client does not matter, and the pages and the bundle they load come from
 * one build.
 */
export function defaultBundlePath(): string {
  return join(defaultPageScriptsPath(), "leasehold.js");
}

/**
 * Where the pages' scripts are (src/pages bundled by `pnpm build` into dist/pages, next to this
 * module's dist/http), unless the server is told otherwise. Run from its sources the folder holds
 * only their TypeScript, and the scripts answer 503 until they are built.
 */
export function defaultPageScriptsPath(): string {
  return fileURLToPath(new URL("../pages/", import.meta.url));
}

const HTML = "text/html; charset=utf-8";
const CSS = "text/css; charset=utf-8";
const JAVASCRIPT = "text/javascript; charset=utf-8";

/** Serves a path and returns true, or returns false for a path it does not serve. */
export type OperationsHandler = (path: string, request: IncomingMessage, response: ServerResponse) => boolean;

/** The pages and the styles they load (nothing inline: see security-headers.ts). */
const STATIC: ReadonlyMap<string, { type: string; body: string }> = new Map([
  ["/", { type: HTML, body: DASHBOARD_HTML }],
  ["/dashboard.css", { type: CSS, body: DASHBOARD_CSS }],
  ["/demo/leader", { type: HTML, body: DEMO_LEADER_HTML }],
  ["/demo/leader.css", { type: CSS, body: DEMO_LEADER_CSS }],
]);

/** The pages' scripts, by route: files of the page scripts folder, built from src/pages. */
const PAGE_SCRIPTS: ReadonlyMap<string, string> = new Map([
  ["/dashboard.js", "dashboard.js"],
  ["/demo/leader.js", "demo-leader.js"],
  ["/page-connection.js", "page-connection.js"],
]);

/**
 * The HTTP side of the server: the dashboard at `/`, the leader-election demo at `/demo/leader` (with
 * their scripts, read from `pageScriptsPath`, and styles), the browser bundle at `/leasehold.js`, and
 * the operator's endpoints (`operations`: probes and metrics, see probes.ts). Every response carries
 * the security headers. WebSocket upgrades on any path go to the protocol.
 */
export function createHttpHandler(bundlePath: string, pageScriptsPath: string, operations: OperationsHandler) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(response, 405, "text/plain", "only GET is served here\n");
      return;
    }
    if (operations(path, request, response)) return;
    const page = STATIC.get(path);
    if (page) {
      send(response, 200, page.type, page.body);
      return;
    }
    const script = PAGE_SCRIPTS.get(path);
    if (script) {
      const file = join(pageScriptsPath, script);
      void serveFile(response, file, { "content-type": JAVASCRIPT }, `the page script ${path} is missing at ${file}; run \`pnpm build\` (it bundles packages/server/src/pages)\n`);
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
      default:
        send(response, 404, "text/plain", "not found; the dashboard is at /, the demo at /demo/leader, clients connect with WebSocket\n");
    }
  };
}

function serveBundle(response: ServerResponse, bundlePath: string, map: boolean): Promise<void> {
  return serveFile(
    response,
    map ? `${bundlePath}.map` : bundlePath,
    // Pages on other origins may import the client from here.
    { "content-type": map ? "application/json" : JAVASCRIPT, "access-control-allow-origin": "*" },
    `the browser bundle is missing at ${bundlePath}; run \`pnpm build\` (it bundles the client beside the pages' scripts)\n`,
  );
}

/** A file read afresh for every request (a rebuild shows at the next reload), or a 503 that says what is missing. */
async function serveFile(response: ServerResponse, file: string, headers: Record<string, string>, missing: string): Promise<void> {
  try {
    const body = await readFile(file);
    response.writeHead(200, { ...headers, "cache-control": "no-cache" });
    response.end(body);
  } catch {
    send(response, 503, "text/plain", missing);
  }
}
