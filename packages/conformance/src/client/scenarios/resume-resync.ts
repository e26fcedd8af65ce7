import { LEASE, PROMPT_MS, STEADY_HEARTBEAT_MS, STEADY_TTL_MS, acquireGranted, expectAcquired, expectRequest, openWithLease, takeResume, welcomeBack, type Scenario } from "../scenario.js";
import { ScenarioFailure } from "../verdict.js";
import { describe } from "../../wire/codec.js";

/** How long the kit watches the resumed connection: a settled request must not be sent again. */
const SETTLED_WINDOW_MS = 500;

export const resumeResync: Scenario = {
  name: "resume.resync",
  section: "7 Resuming a session (steps 5 and 6)",
  checks:
    "after a resume, a wait listed in resync.holds is settled as acquired with the listed token without being sent again, and a held lock whose token is not listed is lost",
  async run(play) {
    const { session, peer, leaseHandle } = await openWithLease(play, STEADY_HEARTBEAT_MS, STEADY_TTL_MS);
    const held = await acquireGranted(play, peer, session, "c/1", leaseHandle, LEASE, 5);
    const waiting = play.driver.send("acquire", { name: "c/2", lease: leaseHandle, wait: true });
    const wait = await expectRequest(peer, session, "lock.acquire", { name: "c/2", lease: LEASE, wait: true }, 'lock.acquire of "c/2" with wait true');
    // While the client is away, the server grants its wait (token 8) and takes "c/1" from it.
    peer.cut();

    const again = await takeResume(play, session);
    welcomeBack(again, session, STEADY_HEARTBEAT_MS, {
      lastRequest: wait.id,
      leases: [{ lease: LEASE, ttl: STEADY_TTL_MS, keepAlive: true }],
      holds: [{ request: wait.id, name: "c/2", lease: LEASE, token: 8 }],
      waits: [],
    });
    again.startPinging(STEADY_HEARTBEAT_MS);

    await expectAcquired(play, waiting, 8, 'the wait for "c/2", granted while the client was away');
    await play.driver.event((event) => event.of === held, PROMPT_MS, 'the lock "c/1" lost (its token 5 is not in resync.holds)');
    const leaseLost = play.driver.events.find((event) => event.of === leaseHandle);
    if (leaseLost !== undefined) throw new ScenarioFailure(`the lease is listed in resync.leases, yet the application lost it (${leaseLost.code})`);
    const resent = await again.poll(SETTLED_WINDOW_MS);
    if (resent !== undefined) {
      throw new ScenarioFailure(`the client sent ${describe(resent.frame)} after the resume; request ${wait.id} was at or below lastRequest and settled by resync.holds`);
    }
  },
};
