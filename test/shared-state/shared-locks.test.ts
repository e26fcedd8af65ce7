import { describeSharedLocks } from "../scenarios/shared-locks.js";
import { singleServer } from "../support/target.js";

describeSharedLocks(singleServer);
