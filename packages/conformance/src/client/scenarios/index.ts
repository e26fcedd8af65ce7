import type { Scenario } from "../scenario.js";
import { deadlinePingsStop } from "./deadline-pings-stop.js";
import { heartbeatPong } from "./heartbeat-pong.js";
import { pushGrantedWait } from "./push-granted-wait.js";
import { pushLeaseEnded } from "./push-lease-ended.js";
import { pushLockLost } from "./push-lock-lost.js";
import { pushUnknownReason } from "./push-unknown-reason.js";
import { refused4000WithId, refused4000WithoutId } from "./refused-4000.js";
import { resumeBaseHeartbeat } from "./resume-base-heartbeat.js";
import { resumeResend } from "./resume-resend.js";
import { resumeResync } from "./resume-resync.js";

/** Every client scenario, in the order they run (by PROTOCOL.md section). */
export const CLIENT_SCENARIOS: readonly Scenario[] = [
  heartbeatPong,
  deadlinePingsStop,
  resumeResend,
  resumeResync,
  resumeBaseHeartbeat,
  refused4000WithId,
  refused4000WithoutId,
  pushGrantedWait,
  pushLockLost,
  pushLeaseEnded,
  pushUnknownReason,
];
