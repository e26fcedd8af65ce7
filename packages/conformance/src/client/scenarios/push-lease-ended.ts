import { LEASE, PROMPT_MS, STEADY_HEARTBEAT_MS, STEADY_TTL_MS, acquireGranted, openWithLease, type Scenario } from "../scenario.js";
import { ScenarioFailure } from "../verdict.js";

export const pushLeaseEnded: Scenario = {
  name: "push.lease-ended",
  section: "10 Pushes (lease.ended); 4 Sessions, leases and deadlines",
  checks: "a lease.ended push makes the application lose the lease (code LEASE_EXPIRED) and every lock held under it",
  async run(play) {
    const { session, peer, leaseHandle } = await openWithLease(play, STEADY_HEARTBEAT_MS, STEADY_TTL_MS);
    const lockHandle = await acquireGranted(play, peer, session, "c/1", leaseHandle, LEASE, 4);

    peer.send({ type: "lease.ended", lease: LEASE, reason: "expired" });
    const leaseLost = await play.driver.event((event) => event.of === leaseHandle, PROMPT_MS, "the lease lost");
    if (leaseLost.code !== "LEASE_EXPIRED") throw new ScenarioFailure(`lease.ended with reason "expired" is a LEASE_EXPIRED (section 12), the application saw ${leaseLost.code}`);
    await play.driver.event((event) => event.of === lockHandle, PROMPT_MS, 'the lock "c/1" lost with its lease');
  },
};
