import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defer, startServer } from "../support/fixtures.js";
import { inspectOver } from "../support/inspect.js";

/** Sends `request` (a whole HTTP/1.1 request head, or the start of one that `then` goes on with) on a raw TCP socket and reads the response until the server closes. */
function exchange(port: number, request: string, then?: (socket: Socket) => void): Promise<{ status: number; headers: Map<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(request);
      then?.(socket);
    });
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", body = ""] = text.split("\r\n\r\n", 2);
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body });
    });
  });
}

const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`;
const upgrade = (extra: string) => `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`;
const KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

function expectSecurityHeaders(headers: Map<string, string>, what: string): void {
  const csp = headers.get("content-security-policy") ?? "";
  const directives = new Map(csp.split(";").map((part) => part.trim().split(/\s+/)).map(([name = "", ...values]) => [name, values]));
  expect(directives.get("default-src"), `${what}: default-src`).toEqual(["'none'"]);
  expect(directives.get("script-src"), `${what}: script-src`).toEqual(["'self'"]);
  expect(directives.get("style-src"), `${what}: style-src`).toEqual(["'self'"]);
  expect(directives.get("connect-src"), `${what}: connect-src`).toEqual(["'self'"]);
  expect(directives.get("frame-ancestors"), `${what}: frame-ancestors`).toEqual(["'none'"]);
  expect(csp, what).not.toMatch(/unsafe-inline|unsafe-eval/);
  expect(headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(headers.get("x-frame-options"), what).toBe("DENY");
  expect(headers.get("referrer-policy"), what).toBe("no-referrer");
}

describe("security headers", () => {
  it("every HTTP route answers with the CSP (no 'unsafe-inline'), nosniff, frame-ancestors 'none', X-Frame-Options and no-referrer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-headers-"));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const bundle = join(dir, "leasehold.js");
    writeFileSync(bundle, "export const connect = () => {};\n");
    writeFileSync(`${bundle}.map`, "{}");
    const pageScripts = new Map([["/dashboard.js", "dashboard.js"], ["/demo/leader.js", "demo-leader.js"], ["/page-connection.js", "page-connection.js"]]);
    for (const file of pageScripts.values()) writeFileSync(join(dir, file), `export const file = "${file}";\n`);
    const server = await startServer({ browserBundlePath: bundle, pageScriptsPath: dir });
    const routes: [string, number, string][] = [
      ["/", 200, "text/html"],
      ["/dashboard.js", 200, "text/javascript"],
      ["/dashboard.css", 200, "text/css"],
      ["/demo/leader", 200, "text/html"],
      ["/demo/leader.js", 200, "text/javascript"],
      ["/demo/leader.css", 200, "text/css"],
      ["/page-connection.js", 200, "text/javascript"],
      ["/leasehold.js", 200, "text/javascript"],
      ["/leasehold.js.map", 200, "application/json"],
      ["/favicon.ico", 204, ""],
      ["/healthz", 200, "text/plain"],
      ["/no/such/page", 404, "text/plain"],
    ];
    for (const [path, status, type] of routes) {
      const response = await exchange(server.port, get(path));
      expect(response.status, path).toBe(status);
      expect(response.headers.get("content-type") ?? "", path).toContain(type);
      expectSecurityHeaders(response.headers, path);
    }
    // The pages' scripts are the built files of pageScriptsPath, each at its route (the body is chunked).
    for (const [path, file] of pageScripts) expect((await exchange(server.port, get(path))).body, path).toContain(`export const file = "${file}";`);
    const post = await exchange(server.port, `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    expect(post.status).toBe(405);
    expectSecurityHeaders(post.headers, "POST /");
    const missingBundle = await startServer({ browserBundlePath: join(dir, "absent.js") });
    const unavailable = await exchange(missingBundle.port, get("/leasehold.js"));
    expect(unavailable.status).toBe(503);
    expectSecurityHeaders(unavailable.headers, "/leasehold.js without a bundle");
    // Run from sources without a build, the pages' scripts are not there either: a 503 that says what to do.
    for (const path of pageScripts.keys()) {
      const unbuilt = await exchange(missingBundle.port, get(path));
      expect(unbuilt.status, path).toBe(503);
      expect(unbuilt.body, path).toContain("run `pnpm build`");
      expectSecurityHeaders(unbuilt.headers, `${path} not built`);
    }
  });

  it("the pages hold no inline script, style or handler: everything they run comes from the server's own files", async () => {
    const server = await startServer();
    for (const path of ["/", "/demo/leader"]) {
      const { body } = await exchange(server.port, get(path));
      const scripts = [...body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length, path).toBeGreaterThan(0);
      for (const [, attributes = "", content = ""] of scripts) {
        expect(attributes, path).toMatch(/\bsrc="\/[^"]+\.js"/);
        expect(content.trim(), path).toBe("");
      }
      expect(body, path).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    }
  });

  it("refused WebSocket upgrades carry them too: a foreign origin (403) and a malformed upgrade (400, 405)", async () => {
    const server = await startServer();
    const foreign = await exchange(server.port, upgrade(`${KEY}Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n`));
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain("https://evil.example may not open a WebSocket here");
    expectSecurityHeaders(foreign.headers, "403 foreign origin");

    const noKey = await exchange(server.port, upgrade("Sec-WebSocket-Version: 13\r\n"));
    expect(noKey.status).toBe(400);
    expect(noKey.body).toContain("Sec-WebSocket-Key");
    expectSecurityHeaders(noKey.headers, "400 without a key");

    const badVersion = await exchange(server.port, upgrade(`${KEY}Sec-WebSocket-Version: 7\r\n`));
    expect(badVersion.status).toBe(400);
    expect(badVersion.headers.get("sec-websocket-version")).toBe("13");
    expectSecurityHeaders(badVersion.headers, "400 with a bad version");

    const wrongMethod = await exchange(server.port, upgrade(`${KEY}Sec-WebSocket-Version: 13\r\n`).replace(/^GET/, "PUT"));
    expect(wrongMethod.status).toBe(405);
    expectSecurityHeaders(wrongMethod.headers, "405 upgrade with PUT");
    expect((await inspectOver(server.url)).sessions).toEqual([]);
  });

  it("refusals of the connection bounds carry them too: 429 past the rate, 503 past the per-address count", async () => {
    const rated = await startServer({ maxNewConnectionsPerSecond: 1 });
    expect((await exchange(rated.port, get("/healthz"))).status).toBe(200);
    const tooFast = await exchange(rated.port, get("/healthz"));
    expect(tooFast.status).toBe(429);
    expect(tooFast.headers.get("retry-after")).toBe("1");
    expectSecurityHeaders(tooFast.headers, "429 past the connection rate");

    const counted = await startServer({ limits: { maxConnectionsPerAddress: 1 } });
    const holder = connect(counted.port, "127.0.0.1");
    defer(() => holder.destroy());
    await new Promise((resolve) => holder.once("connect", resolve));
    const tooMany = await exchange(counted.port, get("/healthz"));
    expect(tooMany.status).toBe(503);
    expectSecurityHeaders(tooMany.headers, "503 past the per-address count");
  });

  it("Node's own refusals of a bad request carry them too: 400 for a malformed one, 408 past the handshake deadline", async () => {
    const server = await startServer({ handshakeTimeoutMs: 500 });
    const malformed = await exchange(server.port, "NOT HTTP AT ALL\r\n\r\n");
    expect(malformed.status).toBe(400);
    expectSecurityHeaders(malformed.headers, "400 malformed request");
    // A header line every 50 ms, so that the socket is never idle (an idle one is dropped without an answer).
    const late = await exchange(server.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", (socket) => {
      let line = 0;
      const trickle = setInterval(() => socket.write(`X-Slow-${line++}: 1\r\n`), 50);
      socket.once("close", () => clearInterval(trickle));
    });
    expect(late.status).toBe(408);
    expectSecurityHeaders(late.headers, "408 request not complete by the deadline");
  });
});
