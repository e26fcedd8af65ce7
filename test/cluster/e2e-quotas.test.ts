import { describeQuotas, QUOTA_KEYS_PER_PRINCIPAL } from "../scenarios/quotas.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12, quotas (test/security/quotas.test.ts against one server): without authentication a
// client's principal is its address, which the follower proves to the leader with the cluster secret.
describeQuotas(sharedCluster({ args: ["--max-keys-per-principal", String(QUOTA_KEYS_PER_PRINCIPAL)] }));
