import { generateKeyPairSync, randomBytes } from "node:crypto";
import { UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { PermissionError } from "@leasehold/client";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { startClient, startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { STATIC_TOKENS, TOKENS, mintJwt } from "../support/security.js";
import { inspectIn } from "../support/inspect.js";

const secret = randomBytes(32);
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsaPublicPem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
const ecPublicPem = ec.publicKey.export({ type: "spki", format: "pem" }).toString();

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

describe("JWT tickets", () => {
  it("an HS256 ticket minted by the application's backend admits a tab with the permissions in its claim", async () => {
    const server = await startServer({ auth: { jwt: { secret } } });
    expect(server.security.auth).toBe("on: JWT (HS256)");
    const ticket = await mintJwt(secret, "HS256", { sub: "tab-42" });
    const client = await startClient(server.url, { auth: ticket });
    const lease = await client.leases.grant(5_000);
    expect((await client.locks.acquire("tenant-a/job", lease.id)).acquired).toBe(true);
    await expect(client.locks.acquire("tenant-b/job", lease.id)).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
  });

  it("RS256 and ES256 tickets verify against the configured public key", async () => {
    for (const [pem, key, alg] of [
      [rsaPublicPem, rsa.privateKey, "RS256"],
      [ecPublicPem, ec.privateKey, "ES256"],
    ] as const) {
      const server = await startServer({ auth: { jwt: { publicKey: pem } } });
      const client = await startClient(server.url, { auth: await mintJwt(key, alg) });
      expect(await client.counters.increment("tenant-a/n")).toBe(1);
    }
  });

  it("an expired ticket is refused: UNAUTHENTICATED, then close 4003, and the client does not retry", async () => {
    const server = await startServer({ auth: { jwt: { secret, clockToleranceSeconds: 0 } } });
    const expired = await mintJwt(secret, "HS256", { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const refused = await refusal(server.url, expired);
    expect(refused.code).toBe(CloseCode.UNAUTHENTICATED);
    expect(refused.message).toContain("expired");
    const error = await startClient(server.url, { auth: expired }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PermissionError);
    expect(error).toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
    // In process: this server knows no admin credential to read it over the wire with.
    expect(inspectIn(server).sessions).toEqual([]);
  });

  it("a ticket signed by the wrong key is refused", async () => {
    const server = await startServer({ auth: { jwt: { secret, publicKey: rsaPublicPem } } });
    const otherSecret = randomBytes(32);
    const otherRsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    for (const ticket of [await mintJwt(otherSecret, "HS256"), await mintJwt(otherRsa.privateKey, "RS256")]) {
      const refused = await refusal(server.url, ticket);
      expect(refused.code).toBe(CloseCode.UNAUTHENTICATED);
      expect(refused.message).toContain("signature");
    }
  });

  it("refuses algorithm tricks, missing claims and bad permissions", async () => {
    const server = await startServer({ auth: { jwt: { publicKey: rsaPublicPem, issuer: "https://app.example", audience: "leasehold" } } });
    const good = { issuer: "https://app.example", audience: "leasehold" };
    // An HS256 ticket "signed" with the RSA public key as its secret: only RS256 is accepted here.
    const confused = await mintJwt(new TextEncoder().encode(rsaPublicPem), "HS256", good);
    const unsigned = new UnsecuredJWT({ leasehold: [{ prefix: "", allow: ["admin"] }] }).setSubject("x").setExpirationTime("5m").encode();
    const tickets = {
      confused,
      unsigned,
      wrongIssuer: await mintJwt(rsa.privateKey, "RS256", { ...good, issuer: "https://evil.example" }),
      wrongAudience: await mintJwt(rsa.privateKey, "RS256", { ...good, audience: "other" }),
      unknownRight: await mintJwt(rsa.privateKey, "RS256", { ...good, permissions: [{ prefix: "", allow: ["root"] }] }),
      noPermissions: await mintJwt(rsa.privateKey, "RS256", { ...good, permissions: "everything" }),
      garbage: "a.b.c",
    };
    for (const [name, ticket] of Object.entries(tickets)) {
      const refused = await refusal(server.url, ticket);
      expect(refused.code, name).toBe(CloseCode.UNAUTHENTICATED);
    }
    const client = await startClient(server.url, { auth: await mintJwt(rsa.privateKey, "RS256", good) });
    expect(client.connected).toBe(true);
  });

  it("static tokens and JWTs work side by side", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS, jwt: { secret } } });
    expect(server.security.auth).toBe("on: 4 static tokens, JWT (HS256)");
    await startClient(server.url, { auth: TOKENS.admin });
    await startClient(server.url, { auth: await mintJwt(secret, "HS256") });
    await expect(startClient(server.url, { auth: await mintJwt(randomBytes(32), "HS256") })).rejects.toBeInstanceOf(PermissionError);
  });
});
