import { describeElections } from "../scenarios/elections.js";
import { singleServer } from "../support/target.js";

describeElections(singleServer);
