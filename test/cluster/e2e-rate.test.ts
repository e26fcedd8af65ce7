import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll } from "vitest";
import { describeRateBeforeTls, RATE_BEFORE_TLS_PER_SECOND } from "../scenarios/rate-before-tls.js";
import { makeCertificates } from "../support/security.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12, the connection rate before TLS (test/security/tls.test.ts against one server): a follower
// makes the TLS handshake on its own listener, so it refuses a connection past the rate before it, as the leader does.
const pki = makeCertificates({ removeAfterTest: false });
afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));
describeRateBeforeTls(
  sharedCluster({
    args: ["--tls-cert", join(pki.dir, "server.crt"), "--tls-key", join(pki.dir, "server.key"), "--max-new-connections-per-second", String(RATE_BEFORE_TLS_PER_SECOND)],
  }),
);
