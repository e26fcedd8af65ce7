import { describeHttpRefusals, REFUSALS_ALLOWED_ORIGINS, REFUSALS_HANDSHAKE_MS } from "../scenarios/http-refusals.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12, security headers and origins (test/security/headers.test.ts and origin.test.ts against one
// server): a follower's own listener serves the pages and probes with the headers (its /metrics names the leader) and
// refuses a foreign origin with 403 before it dials the leader. The connection bounds: test/cluster/e2e-rate.test.ts
// and e2e-addresses.test.ts check them through a follower.
describeHttpRefusals(sharedCluster({ args: [...REFUSALS_ALLOWED_ORIGINS.flatMap((origin) => ["--allow-origin", origin]), "--handshake-timeout", String(REFUSALS_HANDSHAKE_MS)] }));
