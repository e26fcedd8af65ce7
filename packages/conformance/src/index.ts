/** The kit as a library, for test runners that call it in-process rather than through the bin. */
export { RawConnection } from "./wire/connection.js";
export { fromTagged, toTagged, type InvalidFrameVector, type MessageVector, type Tagged } from "./vectors.js";
export { decode as kitDecode } from "./wire/codec.js";
export { runScenarios, type RunOptions } from "./server/runner.js";
export { serverScenarios } from "./server/scenarios/index.js";
export { SMALL_LIMITS, SMALL_LIMITS_FLAGS } from "./server/profile.js";
export { summaryLine, jsonReport, junitReport, type ScenarioResult } from "./report.js";
export type { Scenario, KitContext } from "./server/scenario.js";
