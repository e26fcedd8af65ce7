import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connect } from "@leasehold/client";
import { defer, startClient, startServer } from "../support/fixtures.js";
import { startServerProcess } from "../support/server-process.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";

/** A throwaway CA and a certificate it signed for 127.0.0.1 and localhost, made with openssl. */
function makeCertificates(): { dir: string; ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-tls-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=leasehold test CA");
  openssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "ext.cnf");
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  return { dir, ca: read("ca.crt"), cert: read("server.crt"), key: read("server.key") };
}

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

describe("TLS", () => {
  it("serves wss:// and https:// end to end with a self-signed CA that the client is told to trust", async () => {
    const pki = makeCertificates();
    const server = await startServer({ tls: { cert: pki.cert, key: pki.key } });
    expect(server.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    expect(server.security.tls).toBe(true);

    const client = await startClient(server.url, { ca: pki.ca });
    const lease = await client.leases.grant(5_000);
    const lock = await client.locks.acquire("tls/job", lease.id);
    expect(lock.acquired).toBe(true);
    await client.put("tls/key", "over TLS");
    expect((await client.get("tls/key"))?.value).toBe("over TLS");

    const health = await httpsGet(`https://127.0.0.1:${server.port}/healthz`, pki.ca);
    expect(health).toEqual({ status: 200, body: "ok\n" });

    // Without the CA the certificate is not trusted; plain ws:// to a TLS port gets nowhere.
    await expect(connect(server.url, { autoReconnect: false })).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    await expect(connect(server.url.replace("wss:", "ws:"), { autoReconnect: false })).rejects.toMatchObject({ code: "NOT_CONNECTED" });
  });

  it("the CLI turns on TLS, authentication and an origin list by flags, and says so in its startup line", async () => {
    const pki = makeCertificates();
    const authFile = join(pki.dir, "tokens.json");
    writeFileSync(authFile, JSON.stringify({ tokens: STATIC_TOKENS }));
    const { child, url } = await startServerProcess([
      "--memory",
      "--port",
      "0",
      "--tls-cert",
      join(pki.dir, "server.crt"),
      "--tls-key",
      join(pki.dir, "server.key"),
      "--auth-file",
      authFile,
      "--allow-origin",
      "https://app.example",
    ]);
    expect(url).toMatch(/^wss:/);
    const line = child.lines.find((entry) => entry.url === url)!;
    expect(line.msg).toContain("auth on: 4 static tokens");
    expect(line.msg).toContain("https://app.example");
    expect(JSON.stringify(child.lines)).not.toContain(TOKENS.admin);
    const admin = await startClient(url, { ca: pki.ca, auth: TOKENS.admin });
    expect((await admin.admin.state()).sessions).toHaveLength(1);
    await expect(connect(url, { ca: pki.ca, autoReconnect: false })).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
  });

  it("the CLI says that auth is off when it is", async () => {
    const { child, url } = await startServerProcess(["--memory", "--port", "0"]);
    const line = child.lines.find((entry) => entry.url === url)!;
    expect(line.msg).toContain("auth off: any client may connect");
    expect(line.auth).toBe("off");
  });
});
