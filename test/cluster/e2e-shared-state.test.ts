import { describeCounters } from "../scenarios/counters.js";
import { describeFencing } from "../scenarios/fencing.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12: the shared-state tests for fencing and counters, against 3 gateways on 3 etcd members, through a follower.
const cluster = sharedCluster();
describeFencing(cluster);
describeCounters(cluster);
