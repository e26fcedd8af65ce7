import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defer, startServer } from "../support/fixtures.js";
import { exchange, expectSecurityHeaders, getRequest as get } from "../support/http-exchange.js";
import { singleServerWith } from "../support/target.js";
import { describeHttpRefusals, REFUSALS_ALLOWED_ORIGINS, REFUSALS_HANDSHAKE_MS } from "../scenarios/http-refusals.js";

// The refusals a follower's listener makes too run against one server and a cluster (test/scenarios/http-refusals.ts).
// Single-node: the pages' contents (a follower serves the same routes from the same build) and the per-address connection bounds.
describeHttpRefusals(singleServerWith({ allowOrigins: REFUSALS_ALLOWED_ORIGINS, handshakeTimeoutMs: REFUSALS_HANDSHAKE_MS }));

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
});
