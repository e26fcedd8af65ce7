import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PermissionError } from "@leasehold/client";
import { ErrorCode } from "@leasehold/protocol";
import { describeJwtKeys, jwtKeysOptions, makeJwtKeys } from "../scenarios/jwt-keys.js";
import { startClient, startServer } from "../support/fixtures.js";
import { STATIC_TOKENS, TOKENS, mintJwt } from "../support/security.js";
import { singleServerWith } from "../support/target.js";

// An HS256 secret and an RS256 public key at once, issuer and audience required: one server here, a cluster
// through a follower in test/cluster/e2e-jwt.test.ts. Below, configurations the cluster does not need again
// (another key type of the same check; a tolerance `serve` has no flag for; what the server reports of itself).
const keys = makeJwtKeys();
describeJwtKeys(singleServerWith(jwtKeysOptions(keys)), keys);

const secret = randomBytes(32);
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ecPublicPem = ec.publicKey.export({ type: "spki", format: "pem" }).toString();

describe("JWT tickets", () => {
  it("an ES256 ticket verifies against the configured public key", async () => {
    const server = await startServer({ auth: { jwt: { publicKey: ecPublicPem } } });
    const client = await startClient(server.url, { auth: await mintJwt(ec.privateKey, "ES256") });
    expect(await client.counters.increment("tenant-a/n")).toBe(1);
  });

  it("a clock tolerance of 0 refuses a ticket that expired a second ago", async () => {
    const server = await startServer({ auth: { jwt: { secret, clockToleranceSeconds: 0 } } });
    const expired = await mintJwt(secret, "HS256", { expiresIn: Math.floor(Date.now() / 1000) - 1 });
    await expect(startClient(server.url, { auth: expired })).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
  });

  it("static tokens and JWTs work side by side", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS, jwt: { secret } } });
    expect(server.security.auth).toBe("on: 4 static tokens, JWT (HS256)");
    await startClient(server.url, { auth: TOKENS.admin });
    await startClient(server.url, { auth: await mintJwt(secret, "HS256") });
    await expect(startClient(server.url, { auth: await mintJwt(randomBytes(32), "HS256") })).rejects.toBeInstanceOf(PermissionError);
  });
});
