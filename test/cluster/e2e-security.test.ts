import { afterAll } from "vitest";
import { describeAuth } from "../scenarios/auth.js";
import { describeNoSecretsInLogs } from "../scenarios/no-secrets-in-logs.js";
import { describeHandshake, HANDSHAKE_BYTES, HANDSHAKE_DEADLINE_MS } from "../scenarios/handshake.js";
import { authFlags } from "../support/security.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12: the authentication and permission tests (static tokens, HS256 tickets, principal
// names) and the handshake deadlines and bounds against 3 gateways started with the same token file, JWT
// secret and handshake flags, through a follower: the leader checks the hello that the follower relays,
// and the follower's own listener keeps the handshake deadline; no credential in the leader's or the followers'
// logs. What stays single-node, and why, is said in each file of test/security.
const auth = authFlags();
afterAll(() => auth.cleanup());
const cluster = sharedCluster({ args: [...auth.args, "--handshake-timeout", String(HANDSHAKE_DEADLINE_MS), "--max-handshake-bytes", String(HANDSHAKE_BYTES)] });
describeAuth(cluster);
describeHandshake(cluster);
describeNoSecretsInLogs(cluster);
