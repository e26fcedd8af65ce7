import { generateKeyPairSync, randomBytes, type KeyPairKeyObjectResult } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { PermissionError } from "@leasehold/client";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import type { ServerOptions } from "@leasehold/server";
import { startClient } from "../support/fixtures.js";
import { inspectOver } from "../support/inspect.js";
import { Raw } from "../support/raw.js";
import { mintJwt } from "../support/security.js";
import type { Target } from "../support/target.js";

/**
 * JWT configurations beyond the HS256 secret of the authentication scenarios (test/scenarios/auth.ts): an
 * HS256 secret and an RS256 public key at once, with a required issuer and audience. test/security/jwt.test.ts
 * runs these against one server, test/cluster/e2e-jwt.test.ts against a cluster through a follower (the leader
 * checks the ticket the follower relays; the gateways are given the same key files and claims).
 */
export function describeJwtKeys(target: Target, keys: JwtKeys): void {
  const ticket = (key: Parameters<typeof mintJwt>[0], alg: "HS256" | "RS256", claims: Parameters<typeof mintJwt>[2] = {}) => mintJwt(key, alg, { ...keys.claims, ...claims });
  describe(`JWT tickets: an HS256 secret and an RS256 public key, issuer and audience required (${target.name})`, () => {
    it("an HS256 ticket and an RS256 ticket each admit a tab with the permissions in their claim", async () => {
      const server = await target.start();
      for (const [key, alg] of [[keys.secretBytes, "HS256"], [keys.rsa.privateKey, "RS256"]] as const) {
        const client = await startClient(server.url, { auth: await ticket(key, alg, { sub: `tab-${alg}` }) });
        const lease = await client.leases.grant(5_000);
        expect((await client.locks.acquire(`tenant-a/jwt-keys/${alg}`, lease.id)).acquired, alg).toBe(true);
        await expect(client.locks.acquire(`tenant-b/jwt-keys/${alg}`, lease.id), alg).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
      }
    });

    it("an expired ticket is refused: UNAUTHENTICATED, then close 4003, no session, and the client does not retry", async () => {
      const server = await target.start();
      const admin = await ticket(keys.secretBytes, "HS256", { sub: "inspector", permissions: [{ prefix: "", allow: ["admin"] }] });
      const before = (await inspectOver(server.url, admin)).sessions.map((session) => session.session);
      // An hour ago: far past the server's clock tolerance (5 s by default).
      const expired = await ticket(keys.secretBytes, "HS256", { expiresIn: Math.floor(Date.now() / 1000) - 3_600 });
      const refused = await refusal(server.url, expired);
      expect(refused.code).toBe(CloseCode.UNAUTHENTICATED);
      expect(refused.message).toContain("expired");
      const error = await startClient(server.url, { auth: expired }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PermissionError);
      expect(error).toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
      expect((await inspectOver(server.url, admin)).sessions.filter((session) => !before.includes(session.session))).toEqual([]);
    });

    it("a ticket signed by the wrong key is refused", async () => {
      const server = await target.start();
      const otherRsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
      for (const wrong of [await ticket(randomBytes(32), "HS256"), await ticket(otherRsa.privateKey, "RS256")]) {
        const refused = await refusal(server.url, wrong);
        expect(refused.code).toBe(CloseCode.UNAUTHENTICATED);
        expect(refused.message).toContain("signature");
      }
    });

    it("refuses algorithm tricks, missing claims and bad permissions", async () => {
      const server = await target.start();
      // An HS256 ticket "signed" with the RSA public key as its secret: HS256 verifies only with the configured secret.
      const confused = await ticket(new TextEncoder().encode(keys.rsaPublicPem), "HS256");
      const unsigned = new UnsecuredJWT({ leasehold: [{ prefix: "", allow: ["admin"] }] }).setSubject("x").setIssuer(keys.claims.issuer).setAudience(keys.claims.audience).setExpirationTime("5m").encode();
      const tickets = {
        confused,
        unsigned,
        wrongIssuer: await ticket(keys.rsa.privateKey, "RS256", { issuer: "https://evil.example" }),
        wrongAudience: await ticket(keys.rsa.privateKey, "RS256", { audience: "other" }),
        noIssuer: await mintJwt(keys.rsa.privateKey, "RS256", { audience: keys.claims.audience }),
        unknownRight: await ticket(keys.rsa.privateKey, "RS256", { permissions: [{ prefix: "", allow: ["root"] }] }),
        noPermissions: await ticket(keys.rsa.privateKey, "RS256", { permissions: "everything" }),
        garbage: "a.b.c",
      };
      for (const [name, refusedTicket] of Object.entries(tickets)) {
        const refused = await refusal(server.url, refusedTicket);
        expect(refused.code, name).toBe(CloseCode.UNAUTHENTICATED);
      }
      const client = await startClient(server.url, { auth: await ticket(keys.rsa.privateKey, "RS256") });
      expect(client.connected).toBe(true);
    });
  });
}

/** The keys and required claims of the target these scenarios run against. */
export interface JwtKeys {
  /** The HS256 secret, as text (as `--jwt-secret-file` reads it) and as the bytes tickets are signed with. */
  secret: string;
  secretBytes: Uint8Array;
  rsa: KeyPairKeyObjectResult;
  rsaPublicPem: string;
  claims: { issuer: string; audience: string };
}

/** Fresh keys (an RSA pair takes tens of ms to make): call once per file, at its top level. */
export function makeJwtKeys(): JwtKeys {
  const secret = randomBytes(32).toString("hex");
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    secret,
    secretBytes: new TextEncoder().encode(secret),
    rsa,
    rsaPublicPem: rsa.publicKey.export({ type: "spki", format: "pem" }).toString(),
    claims: { issuer: "https://app.example", audience: "leasehold" },
  };
}

/** The server options of the target. */
export function jwtKeysOptions(keys: JwtKeys): ServerOptions {
  return { auth: { jwt: { secret: keys.secret, publicKey: keys.rsaPublicPem, issuer: keys.claims.issuer, audience: keys.claims.audience } } };
}

/** The same as `serve` flags, for a cluster's gateways: the key files in a temporary directory that `cleanup` removes (call it from afterAll). */
export function jwtKeysFlags(keys: JwtKeys): { args: string[]; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-jwt-"));
  writeFileSync(join(dir, "jwt-secret"), keys.secret);
  writeFileSync(join(dir, "jwt-public.pem"), keys.rsaPublicPem);
  return {
    args: ["--jwt-secret-file", join(dir, "jwt-secret"), "--jwt-public-key", join(dir, "jwt-public.pem"), "--jwt-issuer", keys.claims.issuer, "--jwt-audience", keys.claims.audience],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Opens a raw connection, says hello with `auth`, and returns the error and close it got. */
async function refusal(url: string, auth: string): Promise<{ code: number; message: string }> {
  const raw = await Raw.open(url);
  raw.send({ op: "hello", version: 1, auth });
  const closed = await raw.closed();
  const error = raw.received.find((message) => message.type === "error");
  expect(error).toMatchObject({ type: "error", code: ErrorCode.UNAUTHENTICATED });
  expect(raw.received.some((message) => message.type === "welcome")).toBe(false);
  return { code: closed.code, message: error?.type === "error" ? error.message : "" };
}
