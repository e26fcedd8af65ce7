import { PROMPT_MS, openSession, type Scenario } from "../scenario.js";
import { ScenarioFailure } from "../session.js";

/** Pings the kit sends; each must be answered before the next. */
const PINGS = 6;
const HEARTBEAT_MS = 200;
/**
 * "On time": a pong answers from the message handler, at once (section 5). A healthy client answers
 * within a few ms; 250 ms leaves room for a loaded machine while still catching a pong held back by a
 * timer (browsers throttle those to 1 s).
 */
const ON_TIME_MS = 250;

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
    play.note(`pong latency: slowest ${slowest.toFixed(1)} ms of ${PINGS}`);
    if (slowest > ON_TIME_MS) throw new ScenarioFailure(`a pong came ${slowest.toFixed(0)} ms after its ping; it must be sent at once (within ${ON_TIME_MS} ms here)`);
  },
};
