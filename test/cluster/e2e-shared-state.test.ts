import { describeCounters } from "../scenarios/counters.js";
import { describeElections } from "../scenarios/elections.js";
import { describeFencing } from "../scenarios/fencing.js";
import { describeSeed } from "../scenarios/seed.js";
import { describeSharedLocks } from "../scenarios/shared-locks.js";
import { describeWatch } from "../scenarios/watch.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12: the shared-state tests (fencing, counters, the seed example, shared locks and
// semaphores, elections, watch and list) against 3 gateways on 3 etcd members, through a follower. What
// stays single-node: the watch tests that need server options (test/shared-state/watch.test.ts says why).
const cluster = sharedCluster();
describeFencing(cluster);
describeCounters(cluster);
describeSeed(cluster);
describeSharedLocks(cluster);
describeElections(cluster);
describeWatch(cluster);
