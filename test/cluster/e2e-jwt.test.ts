import { afterAll } from "vitest";
import { describeJwtKeys, jwtKeysFlags, makeJwtKeys } from "../scenarios/jwt-keys.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12, JWT configurations (test/security/jwt.test.ts against one server): gateways given an HS256
// secret file, an RS256 public key file, an issuer and an audience; the leader checks the tickets a follower relays.
const keys = makeJwtKeys();
const flags = jwtKeysFlags(keys);
afterAll(() => flags.cleanup());
describeJwtKeys(sharedCluster({ args: flags.args }), keys);
