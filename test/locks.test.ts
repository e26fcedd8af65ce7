import { describeLocks } from "./scenarios/locks.js";
import { singleServer } from "./support/target.js";

describeLocks(singleServer);
