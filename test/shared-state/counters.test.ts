import { describeCounters } from "../scenarios/counters.js";
import { singleServer } from "../support/target.js";

describeCounters(singleServer);
