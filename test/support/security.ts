import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT, type CryptoKey, type KeyObject } from "jose";
import type { ServerOptions } from "@leasehold/server";
import { defer } from "./fixtures.js";

/** Every right a tenant can have over its own names; admin is separate. */
export const TENANT_RIGHTS = ["lock", "election", "read", "write", "counter", "watch"];

/** Tokens of the security tests: two tenants, an operator with every right, and a read-only auditor. */
export const TOKENS = {
  tenantA: "tenant-a-0123456789abcdef",
  tenantB: "tenant-b-0123456789abcdef",
  admin: "admin-0123456789abcdef-ops",
  auditor: "auditor-0123456789abcdef",
} as const;

export const STATIC_TOKENS: NonNullable<NonNullable<ServerOptions["auth"]>["tokens"]> = [
  { name: "tenant-a", token: TOKENS.tenantA, permissions: [{ prefix: "tenant-a/", allow: TENANT_RIGHTS }] },
  { name: "tenant-b", token: TOKENS.tenantB, permissions: [{ prefix: "tenant-b/", allow: TENANT_RIGHTS }] },
  { name: "ops", token: TOKENS.admin, permissions: [{ prefix: "", allow: ["admin", ...TENANT_RIGHTS] }] },
  { name: "auditor", token: TOKENS.auditor, permissions: [{ prefix: "", allow: ["read"] }] },
];

/**
 * The HS256 secret of the authentication scenarios' targets (test/scenarios/auth.ts): text, as `serve
 * --jwt-secret-file` reads it; mint with `mintJwt(JWT_KEY, "HS256")`.
 */
export const JWT_SECRET = randomBytes(32).toString("hex");
export const JWT_KEY = new TextEncoder().encode(JWT_SECRET);

/** The authentication scenarios' server: the static tokens above, and HS256 tickets signed with JWT_SECRET. */
export const AUTH_OPTIONS: ServerOptions = { auth: { tokens: STATIC_TOKENS, jwt: { secret: JWT_SECRET } } };

/**
 * The same as `serve` flags, for a cluster's gateways: the token file and the secret file in a temporary
 * directory that `cleanup` removes (call it from afterAll).
 */
export function authFlags(): { args: string[]; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-auth-"));
  writeFileSync(join(dir, "tokens.json"), JSON.stringify({ tokens: STATIC_TOKENS }));
  writeFileSync(join(dir, "jwt-secret"), JWT_SECRET);
  return {
    args: ["--auth-file", join(dir, "tokens.json"), "--jwt-secret-file", join(dir, "jwt-secret")],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A ticket as an application's backend would mint it for a browser tab. */
export async function mintJwt(
  key: Uint8Array | CryptoKey | KeyObject,
  alg: "HS256" | "RS256" | "ES256",
  claims: { sub?: string; permissions?: unknown; expiresIn?: string | number; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({ leasehold: claims.permissions ?? [{ prefix: "tenant-a/", allow: TENANT_RIGHTS }] })
    .setProtectedHeader({ alg })
    .setSubject(claims.sub ?? "tab-1")
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? "5m");
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(key);
}

/**
 * A throwaway CA and a certificate it signed for 127.0.0.1 and localhost, made with openssl, removed after the
 * test; `{ removeAfterTest: false }` for a file's shared target (made at the file's top level), whose
 * caller removes `dir` itself.
 */
export function makeCertificates({ removeAfterTest = true } = {}): { dir: string; ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-tls-"));
  if (removeAfterTest) defer(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=leasehold test CA");
  openssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "ext.cnf");
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  return { dir, ca: read("ca.crt"), cert: read("server.crt"), key: read("server.key") };
}
