import { LEASE, PROMPT_MS, STEADY_HEARTBEAT_MS, STEADY_TTL_MS, acquireGranted, openWithLease, type Scenario } from "../scenario.js";
import { ScenarioFailure } from "../verdict.js";

/** Reasons no version of the spec defines, standing for a later server's (as "stolen" is to a holder that never used `steal`). */
const UNKNOWN_LOCK_REASON = "confiscated";
const UNKNOWN_LEASE_REASON = "reclaimed";

export const pushUnknownReason: Scenario = {
  name: "push.unknown-reason",
  section: "2 Handshake (Versions and compatibility); 10 Pushes",
  checks:
    "a lock.lost or lease.ended whose reason the client does not know is the loss it reports (LOCK_LOST, LEASE_EXPIRED), not a protocol error: the connection stays open and the rest is kept",
  async run(play) {
    const { session, peer, leaseHandle } = await openWithLease(play, STEADY_HEARTBEAT_MS, STEADY_TTL_MS);
    const taken = await acquireGranted(play, peer, session, "c/1", leaseHandle, LEASE, 6);
    const kept = await acquireGranted(play, peer, session, "c/2", leaseHandle, LEASE, 7);

    peer.send({ type: "lock.lost", name: "c/1", token: 6, reason: UNKNOWN_LOCK_REASON });
    const lost = await play.driver.event((event) => event.of === taken, PROMPT_MS, `the lock "c/1" lost (lock.lost with reason "${UNKNOWN_LOCK_REASON}")`);
    if (lost.code !== "LOCK_LOST") throw new ScenarioFailure(`a lock.lost with an unknown reason is a plain loss, LOCK_LOST (section 2), the application saw ${lost.code}`);
    const early = play.driver.events.find((event) => event.of !== taken);
    if (early !== undefined) throw new ScenarioFailure(`lock.lost took only "c/1", but the application also lost ${early.of} (${early.code})`);

    // Sent on the same connection: a client that refused the unknown reason as a protocol error has closed it by now.
    peer.send({ type: "lease.ended", lease: LEASE, reason: UNKNOWN_LEASE_REASON });
    const ended = await play.driver.event((event) => event.of === leaseHandle, PROMPT_MS, `the lease lost (lease.ended with reason "${UNKNOWN_LEASE_REASON}")`);
    if (ended.code !== "LEASE_EXPIRED") throw new ScenarioFailure(`a lease.ended with an unknown reason ends the lease, LEASE_EXPIRED (section 12), the application saw ${ended.code}`);
    await play.driver.event((event) => event.of === kept, PROMPT_MS, 'the lock "c/2" lost with its lease');
    if (play.stage.peers.length > 1 || !peer.open) throw new ScenarioFailure("the client dropped the connection after a push with an unknown reason; an unknown reason is not a protocol error (section 2)");
  },
};
