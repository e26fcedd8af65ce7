import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import type { Target } from "../support/target.js";

/** The target's rate of new connections per address (`maxNewConnectionsPerSecond`, `--max-new-connections-per-second`). */
export const RATE_BEFORE_TLS_PER_SECOND = 1;

/**
 * A connection past the per-address rate is closed before any TLS handshake, against a TLS target with a rate
 * of RATE_BEFORE_TLS_PER_SECOND: test/security/tls.test.ts runs it against one server,
 * test/cluster/e2e-rate.test.ts against a cluster's follower. A follower has its own listener, and the TLS
 * handshake is made there: so it counts new connections per address itself, before the handshake, as the
 * leader does (without it, one address made a follower do every handshake it asked for; the leader saw none
 * of them, and would have counted only the follower's own upstream connections).
 */
export function describeRateBeforeTls(target: Target): void {
  describe(`TLS and the connection rate (${target.name})`, () => {
    it("a connection past the per-address rate is closed before any TLS handshake: no certificate is sent, no CPU spent on it", async () => {
      const port = Number(new URL((await target.start()).url).port);
      expect(await tlsHandshake(port)).toBe("secured");
      expect(await tlsHandshake(port)).toBe("closed before the handshake");
    });
  });
}

/** Opens a TLS connection: "secured" once the handshake completes (trusted or not: only whether it was made counts), or how it failed. */
function tlsHandshake(port: number): Promise<"secured" | "closed before the handshake"> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: "localhost" }, () => {
      resolve("secured");
      socket.destroy();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET" || /socket disconnected before secure TLS connection/i.test(error.message)) resolve("closed before the handshake");
      else reject(error);
    });
  });
}
