import { describe, expect, it } from "vitest";
import { PermissionError } from "@leasehold/client";
import { startClient } from "../support/fixtures.js";
import { JWT_KEY, TOKENS, mintJwt } from "../support/security.js";
import type { LoggingTarget } from "../support/target.js";

/**
 * No credential is ever written to a log, against a target that takes the static tokens and HS256 tickets of
 * AUTH_OPTIONS: test/security/permissions.test.ts runs it against one server (its logger at debug),
 * test/cluster/e2e-security.test.ts against a cluster through a follower, reading every gateway's log lines:
 * the follower sees the hello on its way through, the leader checks it and logs the refusals.
 */
export function describeNoSecretsInLogs(target: LoggingTarget): void {
  describe(`what the logs hold (${target.name})`, () => {
    it("never writes a token or a JWT into the logs", async () => {
      const server = await target.start();
      const refusalsBefore = refusalsIn(target.logs());
      const good = await startClient(server.url, { auth: TOKENS.tenantA });
      await good.put("tenant-a/logs/x", 1);
      await expect(good.get("tenant-b/logs/x")).rejects.toBeInstanceOf(PermissionError);
      const ticket = await mintJwt(JWT_KEY, "HS256", { sub: "logs-tab" });
      await startClient(server.url, { auth: ticket });
      const wrong = "wrong-0123456789-secret-looking";
      await expect(startClient(server.url, { auth: wrong })).rejects.toBeInstanceOf(PermissionError);
      const jwtLike = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
      await expect(startClient(server.url, { auth: jwtLike })).rejects.toBeInstanceOf(PermissionError);
      // The two refusals are logged (so the lines read are the ones that saw the credentials), with none of them.
      await expect.poll(() => refusalsIn(target.logs())).toBe(refusalsBefore + 2);
      const log = target.logs();
      for (const secret of [TOKENS.tenantA, ticket, ticket.split(".")[2]!, wrong, jwtLike, "c2lnbmF0dXJl"]) expect(log).not.toContain(secret);
    });
  });
}

function refusalsIn(log: string): number {
  return log.split("connection refused: not authenticated").length - 1;
}
