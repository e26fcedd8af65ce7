import { describeSeed } from "../scenarios/seed.js";
import { singleServer } from "../support/target.js";

describeSeed(singleServer);
