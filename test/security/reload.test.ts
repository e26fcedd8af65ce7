import { X509Certificate, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import { connect, type LeaseholdClient } from "@leasehold/client";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { startClient, startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { TENANT_C, admitted, entry, scratchDir, sighup, writeTokens, type TokenEntry } from "../support/reload.js";
import { TOKENS, makeCertificates, mintJwt } from "../support/security.js";
import { startServerProcess } from "../support/server-process.js";

/** Counts a client's disconnections, so that a test can tell that its session went on undisturbed. */
function drops(client: LeaseholdClient): { count: number } {
  const counter = { count: 0 };
  client.addEventListener("disconnected", () => (counter.count += 1));
  return counter;
}

/** The SHA-256 fingerprint of the certificate a TLS server presents to a new connection. */
function presentedCertificate(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

describe("rotating secrets without a restart", () => {
  it("SIGHUP rereads the token file: a removed token's session is closed with 4003 and refused after, a new token works, the others go on, a broken file changes nothing", async () => {
    const file = join(scratchDir(), "tokens.json");
    writeTokens(file, [entry("tenant-a"), entry("tenant-b")]);
    const { child, url } = await startServerProcess(["--memory", "--port", "0", "--auth-file", file]);
    const revoked = await Raw.open(url);
    await revoked.hello(TOKENS.tenantA);
    const kept = await startClient(url, { auth: TOKENS.tenantB });
    const keptDrops = drops(kept);
    expect(await kept.counters.increment("tenant-b/n")).toBe(1);

    writeTokens(file, [entry("tenant-b"), TENANT_C]);
    const reloaded = await sighup(child, 1);
    expect(reloaded).toMatchObject({ level: 30, closed: 1, auth: "on: 2 static tokens" });

    const closed = await revoked.closed();
    expect(closed.code).toBe(CloseCode.UNAUTHENTICATED);
    const [error] = revoked.errorsBeforeClose();
    expect(error).toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
    expect(error?.message).toContain("tenant-a was removed from the server's token file");
    expect(await admitted(url, TOKENS.tenantA)).toBe(false);
    expect(await admitted(url, TENANT_C.token)).toBe(true);
    expect(await kept.counters.increment("tenant-b/n")).toBe(2);

    // Half-written, then a duplicate name: each is logged, and the tokens of the last good file stay.
    writeFileSync(file, '{ "tokens": [ { "name": "tenant-b"');
    const broken = await sighup(child, 2);
    expect(broken.level).toBe(50);
    expect(broken.msg).toContain(`reload failed, the previous secrets stay in use: cannot read the auth file ${file}`);
    writeTokens(file, [entry("tenant-b"), TENANT_C, { ...TENANT_C, token: "tenant-c-another-0123456789" }]);
    expect((await sighup(child, 3)).msg).toContain('is named "tenant-c" like tokens[1]');
    expect(child.process.exitCode).toBeNull();
    expect(await admitted(url, TENANT_C.token)).toBe(true);
    expect(await admitted(url, TOKENS.tenantA)).toBe(false);
    expect(await kept.counters.increment("tenant-b/n")).toBe(3);
    expect(keptDrops.count).toBe(0);
  });

  it("SIGHUP rereads the TLS certificate: new connections get the new one, open ones go on, a mismatched pair changes nothing", async () => {
    const [first, second] = [makeCertificates(), makeCertificates()];
    const dir = scratchDir();
    const [cert, key] = [join(dir, "server.crt"), join(dir, "server.key")];
    writeFileSync(cert, first.cert);
    writeFileSync(key, first.key);
    const { child, url } = await startServerProcess(["--memory", "--port", "0", "--tls-cert", cert, "--tls-key", key]);
    const port = Number(new URL(url).port);
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    expect(await presentedCertificate(port, first.ca)).toBe(fingerprint(first.cert));
    const open = await startClient(url, { ca: first.ca });
    const openDrops = drops(open);

    writeFileSync(cert, second.cert);
    writeFileSync(key, second.key);
    expect(await sighup(child, 1)).toMatchObject({ level: 30, tls: true });
    expect(await presentedCertificate(port, second.ca)).toBe(fingerprint(second.cert));
    await startClient(url, { ca: second.ca });
    await expect(connect(url, { ca: first.ca, autoReconnect: false })).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    expect(await open.counters.increment("n")).toBe(1);

    // A certificate with another certificate's key: refused before anything changes.
    writeFileSync(key, first.key);
    const mismatched = await sighup(child, 2);
    expect(mismatched.level).toBe(50);
    expect(mismatched.msg).toContain(`the TLS certificate ${cert} and key ${key} cannot be used`);
    expect(await presentedCertificate(port, second.ca)).toBe(fingerprint(second.cert));
    expect(openDrops.count).toBe(0);
  });

  it("reload() in-process: changed rights apply to a live session's next request, and a new JWT key replaces the old one", async () => {
    const dir = scratchDir();
    const file = join(dir, "tokens.json");
    const secretFile = join(dir, "jwt.secret");
    const [oldSecret, newSecret] = [randomBytes(32).toString("hex"), randomBytes(32).toString("hex")];
    writeTokens(file, [entry("tenant-a")]);
    writeFileSync(secretFile, oldSecret);
    const server = await startServer({ auth: { tokensFile: file, jwtFiles: { secretFile } } });
    const tenant = await startClient(server.url, { auth: TOKENS.tenantA });
    const tab = await startClient(server.url, { auth: await mintJwt(new TextEncoder().encode(oldSecret), "HS256") });
    expect(await tenant.counters.increment("tenant-a/n")).toBe(1);

    writeTokens(file, [{ ...entry("tenant-a"), permissions: [{ prefix: "tenant-a/", allow: ["read"] }] }]);
    writeFileSync(secretFile, newSecret);
    expect(server.reload()).toEqual({ auth: "on: 1 static token, JWT (HS256)", tls: false, closed: [] });
    await expect(tenant.counters.increment("tenant-a/n")).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    expect(await tenant.get("tenant-a/key")).toBeNull();
    expect(await admitted(server.url, await mintJwt(new TextEncoder().encode(oldSecret), "HS256"))).toBe(false);
    expect(await admitted(server.url, await mintJwt(new TextEncoder().encode(newSecret), "HS256"))).toBe(true);
    // A session admitted with a ticket goes on: its ticket was checked at its handshake.
    expect(await tab.counters.increment("tenant-a/n")).toBe(2);

    writeFileSync(secretFile, "too short");
    expect(() => server.reload()).toThrow(/at least 32 bytes/);
    expect(await admitted(server.url, await mintJwt(new TextEncoder().encode(newSecret), "HS256"))).toBe(true);
  });

  it("reload(): a token's new limits apply to its account at once, for the sessions already connected too", async () => {
    const file = join(scratchDir(), "tokens.json");
    const withLimits = (limits: Record<string, number> | undefined): TokenEntry[] => [{ ...entry("tenant-a"), ...(limits && { limits }) }];
    writeTokens(file, withLimits({ maxLeases: 1, maxTtlMs: 2_000 }));
    const server = await startServer({ auth: { tokensFile: file } });
    const raw = await Raw.open(server.url);
    expect((await raw.hello(TOKENS.tenantA)).limits).toMatchObject({ maxLeasesPerPrincipal: 1, maxTtlMs: 2_000 });
    const grant = (ttl = 1_000) => raw.request({ op: "lease.grant", ttl, keepAlive: false });
    expect(await grant()).toMatchObject({ type: "reply" });
    expect(await grant()).toMatchObject({ type: "error", code: ErrorCode.LIMIT_EXCEEDED });
    expect(await grant(5_000)).toMatchObject({ type: "error", code: ErrorCode.OUT_OF_RANGE });

    // Raised: the connected session may grant at once, without reconnecting.
    writeTokens(file, withLimits({ maxLeases: 3 }));
    server.reload();
    expect(await grant(5_000)).toMatchObject({ type: "reply" });
    // Lowered below what it holds: nothing is taken away, nothing new is granted.
    writeTokens(file, withLimits({ maxLeases: 1 }));
    server.reload();
    expect(await grant()).toMatchObject({ type: "error", code: ErrorCode.LIMIT_EXCEEDED });
    // Removed from the entry: the server's defaults again.
    writeTokens(file, withLimits(undefined));
    server.reload();
    expect(await grant()).toMatchObject({ type: "reply" });
  });
});
