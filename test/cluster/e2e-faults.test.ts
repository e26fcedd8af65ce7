import { describeFaults, FAULTS_SESSION_GRACE_MS } from "../scenarios/faults.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12: the fault tests of the e2e tier, against 3 gateways on 3 etcd members, through a follower
// (the cuts are of the client's socket to that follower).
describeFaults(sharedCluster({ args: ["--session-grace", String(FAULTS_SESSION_GRACE_MS)] }));
