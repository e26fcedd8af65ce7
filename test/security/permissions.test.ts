import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { PermissionError } from "@leasehold/client";
import type { ServerOptions } from "@leasehold/server";
import { describeAuth } from "../scenarios/auth.js";
import { startClient, startServer } from "../support/fixtures.js";
import { AUTH_OPTIONS, STATIC_TOKENS, TOKENS } from "../support/security.js";
import { singleServerWith } from "../support/target.js";

// pino is a dependency of the server package, not of the workspace root: load it from there.
const { pino } = createRequire(new URL("../../packages/server/package.json", import.meta.url))("pino") as {
  pino: (options: { level: string }, stream: Writable) => NonNullable<ServerOptions["logger"]>;
};

describeAuth(singleServerWith(AUTH_OPTIONS));

// Single-node: it reads the log lines of a server in this process (a gateway's are checked where its
// lines are, in the cluster tier's own tests).
describe("permissions: what the logs hold", () => {
  it("never writes a token or a JWT into the logs", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const server = await startServer({ auth: { tokens: STATIC_TOKENS }, logger: pino({ level: "debug" }, sink) });
    const good = await startClient(server.url, { auth: TOKENS.tenantA });
    await good.put("tenant-a/x", 1);
    await expect(good.get("tenant-b/x")).rejects.toBeInstanceOf(PermissionError);
    const wrong = "wrong-0123456789-secret-looking";
    await expect(startClient(server.url, { auth: wrong })).rejects.toBeInstanceOf(PermissionError);
    const jwtLike = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    await expect(startClient(server.url, { auth: jwtLike })).rejects.toBeInstanceOf(PermissionError);
    await expect.poll(() => lines.filter((line) => line.includes("not authenticated")).length).toBe(2);
    const log = lines.join("");
    for (const secret of [TOKENS.tenantA, wrong, jwtLike, "c2lnbmF0dXJl"]) expect(log).not.toContain(secret);
  });
});
