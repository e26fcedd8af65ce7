import { PROMPT_MS, openSession, type Scenario } from "../scenario.js";
import { ScenarioFailure } from "../verdict.js";

/** Pings the kit sends; each must be answered before the next. */
const PINGS = 6;
const HEARTBEAT_MS = 200;
/**
 * "On time": a pong answers from the message handler, at once (section 5). A healthy client answers
 * within a few ms (5 ms measured for @leasehold/client on a busy 2-core machine); a pong held back
 * by a timer is late every time (browsers throttle background timers to 1 s). So one pong may be
 * late by a stall of the machine, not two, and none by more than LATE_MS.
 */
const ON_TIME_MS = 250;
const LATE_MS = 1_000;

export const heartbeatPong: Scenario = {
  name: "heartbeat.pong",
  section: "5 Heartbeats",
  checks: "every ping is answered at once by a pong with the ping's seq, no id, and nothing else",
  async run(play) {
    const { peer } = await openSession(play, HEARTBEAT_MS);
    const latencies: number[] = [];
    for (let i = 0; i < PINGS; i++) {
      const seq = peer.ping();
      const sentAt = performance.now();
      const pong = await peer.pong(i + 1, PROMPT_MS);
      if (pong === undefined) throw new ScenarioFailure(`ping seq ${seq} got no pong within ${PROMPT_MS} ms (section 5: answer every ping at once)`);
      if (pong.seq !== seq) throw new ScenarioFailure(`ping seq ${seq} was answered by a pong with seq ${String(pong.seq)}; a pong carries the seq of the ping it answers`);
      latencies.push(pong.at - sentAt);
      // Nothing but pongs is expected: the application has asked for nothing.
      const other = await peer.poll(HEARTBEAT_MS);
      if (other !== undefined) throw new ScenarioFailure(`the client sent a request nobody asked for: ${JSON.stringify(other.frame)}`);
    }
    const slowest = Math.max(...latencies);
    const late = latencies.filter((latency) => latency > ON_TIME_MS).length;
    play.note(`pong latency: slowest ${slowest.toFixed(1)} ms of ${PINGS}`);
    if (late > 1 || slowest > LATE_MS) {
      throw new ScenarioFailure(`${late} of ${PINGS} pongs came more than ${ON_TIME_MS} ms after their ping (slowest ${slowest.toFixed(0)} ms); a pong must be sent at once, from the message handler`);
    }
  },
};
