import { SignJWT, type CryptoKey, type KeyObject } from "jose";
import type { ServerOptions } from "@leasehold/server";

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
