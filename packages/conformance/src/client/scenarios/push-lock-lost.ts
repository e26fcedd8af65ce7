import { LEASE, PROMPT_MS, STEADY_HEARTBEAT_MS, STEADY_TTL_MS, acquireGranted, openWithLease, type Scenario } from "../scenario.js";
import { ScenarioFailure } from "../verdict.js";

/** How long the kit waits for a wrongly reported loss of the lease after the lock alone was taken. */
const STILL_HELD_MS = 300;

export const pushLockLost: Scenario = {
  name: "push.lock-lost",
  section: "10 Pushes (lock.lost)",
  checks: "a lock.lost push makes the application lose exactly that lock (code LOCK_LOST), and not its lease or its other locks",
  async run(play) {
    const { session, peer, leaseHandle } = await openWithLease(play, STEADY_HEARTBEAT_MS, STEADY_TTL_MS);
    const taken = await acquireGranted(play, peer, session, "c/1", leaseHandle, LEASE, 9);
    const kept = await acquireGranted(play, peer, session, "c/2", leaseHandle, LEASE, 10);

    peer.send({ type: "lock.lost", name: "c/1", token: 9, reason: "revoked" });
    const lost = await play.driver.event((event) => event.of === taken, PROMPT_MS, 'the lock "c/1" lost');
    if (lost.code !== "LOCK_LOST") throw new ScenarioFailure(`a lock.lost push with reason "revoked" is a LOCK_LOST (section 12), the application saw ${lost.code}`);
    await new Promise((resolve) => setTimeout(resolve, STILL_HELD_MS));
    const wrong = play.driver.events.find((event) => event.of === leaseHandle || event.of === kept);
    if (wrong !== undefined) throw new ScenarioFailure(`lock.lost took only "c/1" (token 9), but the application also lost ${wrong.of} (${wrong.code})`);
  },
};
