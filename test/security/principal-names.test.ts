import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode, PROTOCOL_VERSION } from "@leasehold/protocol";
import { createServer } from "@leasehold/server";
import { defer, startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { STATIC_TOKENS, TOKENS, mintJwt } from "../support/security.js";
import { inspectOver } from "../support/inspect.js";

const secret = randomBytes(32);

describe("principal names are unique", () => {
  it("a token file with two entries of one name is refused when it loads, naming both entries", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-names-"));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "tokens.json");
    const twin = { name: "tenant-a", token: "another-token-0123456789", permissions: [{ prefix: "", allow: ["admin"] }] };
    writeFileSync(file, JSON.stringify({ tokens: [...STATIC_TOKENS, twin] }));
    const error = await createServer({ port: 0, auth: { tokensFile: file } }).then(
      async (server) => {
        await server.close();
        return undefined;
      },
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toContain(`tokens[${STATIC_TOKENS.length}] is named "tenant-a" like tokens[0]`);
  });

  it("a token name may not start with jwt:, where JWT subjects live", async () => {
    const entry = { name: "jwt:tab-1", token: "a-token-of-jwt-name-0123", permissions: [{ prefix: "", allow: ["read"] }] };
    await expect(createServer({ port: 0, auth: { tokens: [entry] } })).rejects.toThrow(/reserved for JWT subjects/);
  });

  it("a JWT principal's account is jwt:<sub>, as its name, in quota messages too", async () => {
    const server = await startServer({ auth: { tokens: STATIC_TOKENS, jwt: { secret } }, limits: { maxSessionsPerPrincipal: 1 } });
    const ticket = await mintJwt(secret, "HS256", { sub: "tab-1" });
    await (await Raw.open(server.url)).hello(ticket);
    const second = await Raw.open(server.url);
    second.send({ op: "hello", version: PROTOCOL_VERSION, auth: ticket });
    const refused = await second.next((message) => message.type === "error");
    expect(refused).toMatchObject({ code: ErrorCode.LIMIT_EXCEEDED, message: expect.stringMatching(/^the principal jwt:tab-1 holds 1 sessions/) });
    const sessions = (await inspectOver(server.url, TOKENS.admin)).sessions;
    expect(sessions.filter((session) => session.account === "jwt:tab-1")).toHaveLength(1);
  });
});
