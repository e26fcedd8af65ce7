import { describeLocks } from "../scenarios/locks.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12: the lock tests of the e2e tier, against 3 gateways on 3 etcd members, through a follower.
describeLocks(sharedCluster());
