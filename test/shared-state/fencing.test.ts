import { describeFencing } from "../scenarios/fencing.js";
import { singleServer } from "../support/target.js";

describeFencing(singleServer);
