import { afterAll } from "vitest";
import { describeAuth } from "../scenarios/auth.js";
import { authFlags } from "../support/security.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12: the authentication and permission tests (static tokens, HS256 tickets, principal
// names) against 3 gateways started with the same token file and JWT secret, through a follower: the leader
// checks the hello that the follower relays. What stays single-node, and why, is said in each file of test/security.
const auth = authFlags();
afterAll(() => auth.cleanup());
describeAuth(sharedCluster({ args: auth.args }));
