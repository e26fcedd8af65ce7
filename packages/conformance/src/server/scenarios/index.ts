import type { Scenario } from "../scenario.js";
import { frameScenarios } from "./frames.js";
import { handshakeScenarios } from "./handshake.js";
import { heartbeatScenarios } from "./heartbeats.js";
import { leaseScenarios } from "./leases.js";
import { limitScenarios } from "./limits.js";
import { lockScenarios } from "./locks.js";
import { restartScenarios } from "./restart.js";
import { resumeScenarios } from "./resume.js";
import { sharedStateScenarios } from "./shared-state.js";

/** Every server scenario, in the order they run (restart last: it takes the server away for a moment). */
export const serverScenarios: readonly Scenario[] = [
  ...handshakeScenarios,
  ...frameScenarios,
  ...leaseScenarios,
  ...lockScenarios,
  ...heartbeatScenarios,
  ...resumeScenarios,
  ...sharedStateScenarios,
  ...limitScenarios,
  ...restartScenarios,
];
