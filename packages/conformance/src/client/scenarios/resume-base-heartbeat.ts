import { openSession, takeResume, welcomeBack, type Scenario } from "../scenario.js";
import { ScenarioFailure } from "../verdict.js";
import { describe } from "../../wire/codec.js";

/** The base interval of the server process that creates the session. */
const CREATED_BASE_MS = 200;
/**
 * The base interval of the one that resumes it (a restart with another `--heartbeat`, another cluster
 * member): five times longer, so that a client that keeps the first base (silence limit about three
 * intervals, section 5) declares this server dead between two of its pings.
 */
const RESUMED_BASE_MS = 1_000;
/**
 * How long the kit pings at the resumed base and watches the connection: four pings, past the first
 * silence check a client makes (our client's was set from the welcome's `heartbeat`, at 3,100 ms, and
 * a wrong base showed only after it, at about 3,700 ms).
 */
const WATCH_MS = 4 * RESUMED_BASE_MS + 500;

export const resumeBaseHeartbeat: Scenario = {
  name: "resume.base-heartbeat",
  section: "5 Heartbeats (The base interval); 7 Resuming a session",
  checks:
    "after a resume, the client builds its silence rule on the resumed welcome's baseHeartbeat, not on the base of the welcome that created the session: it keeps a server that pings at the new base",
  async run(play) {
    const { session, peer } = await openSession(play, CREATED_BASE_MS, CREATED_BASE_MS);
    peer.startPinging(CREATED_BASE_MS);
    await peer.pong(2, 3 * CREATED_BASE_MS);
    peer.cut();

    const again = await takeResume(play, session);
    welcomeBack(again, session, RESUMED_BASE_MS, { lastRequest: session.highestRequest, leases: [], holds: [], waits: [] }, RESUMED_BASE_MS);
    again.startPinging(RESUMED_BASE_MS);
    const resumedAt = performance.now();
    const unasked = await again.poll(WATCH_MS);
    if (unasked !== undefined) throw new ScenarioFailure(`after the resume the client sent ${describe(unasked.frame)}, which nobody asked for`);
    const heldFor = Math.round(performance.now() - resumedAt);
    if (!again.open || play.stage.peers.length > 2) {
      throw new ScenarioFailure(
        `the client dropped the resumed connection after ${heldFor} ms while the kit pinged every ${RESUMED_BASE_MS} ms, the baseHeartbeat of the resumed welcome: its silence rule kept the creating server's base of ${CREATED_BASE_MS} ms`,
      );
    }
    if (again.pongs.length < 2) throw new ScenarioFailure(`the client answered ${again.pongs.length} of the resumed connection's pings in ${heldFor} ms`);
    play.note(`kept the resumed connection ${heldFor} ms at pings every ${RESUMED_BASE_MS} ms (${again.pongs.length} pongs)`);
  },
};
