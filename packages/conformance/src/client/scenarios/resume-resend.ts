import { LEASE, STEADY_HEARTBEAT_MS, STEADY_TTL_MS, expectAcquired, expectRequest, openWithLease, takeResume, welcomeBack, type Scenario } from "../scenario.js";
import { reply } from "../session.js";
import { ScenarioFailure } from "../verdict.js";

/** Time for the application's new request to reach the client's queue while it is reconnecting. */
const QUEUE_MS = 300;

export const resumeResend: Scenario = {
  name: "resume.resend-in-order",
  section: "7 Resuming a session",
  checks:
    "after a cut, the client resumes with the session's id and secret and, before anything new, re-sends every request above resync.lastRequest with its own id, in id order",
  async run(play) {
    const { session, peer, leaseHandle } = await openWithLease(play, STEADY_HEARTBEAT_MS, STEADY_TTL_MS);
    const granted = session.highestRequest;

    // Two requests reach the kit, which then "loses" them with the connection: neither is answered.
    const waited = play.driver.send("acquire", { name: "c/1", lease: leaseHandle, wait: true });
    const first = await expectRequest(peer, session, "lock.acquire", { name: "c/1", lease: LEASE, wait: true }, 'lock.acquire of "c/1" with wait');
    const tried = play.driver.send("acquire", { name: "c/2", lease: leaseHandle });
    const second = await expectRequest(peer, session, "lock.acquire", { name: "c/2", lease: LEASE }, 'lock.acquire of "c/2"');
    peer.cut();

    const again = await takeResume(play, session);
    // The application asks for more while the client is away: a new request, to go after the re-sends.
    const later = play.driver.send("acquire", { name: "c/3", lease: leaseHandle });
    const early = await again.poll(QUEUE_MS);
    if (early !== undefined) {
      throw new ScenarioFailure(`the client sent ${JSON.stringify(early.frame)} before the welcome told it which requests arrived (resync.lastRequest)`);
    }
    welcomeBack(again, session, STEADY_HEARTBEAT_MS, { lastRequest: granted, leases: [{ lease: LEASE, ttl: STEADY_TTL_MS, keepAlive: true }], holds: [], waits: [] });
    again.startPinging(STEADY_HEARTBEAT_MS);

    const resentFirst = await again.next(3_000, `the re-sent request ${first.id} (lock.acquire "c/1")`);
    if (resentFirst.frame.id !== first.id || resentFirst.frame.name !== "c/1" || resentFirst.frame.wait !== true) {
      throw new ScenarioFailure(`expected request ${first.id} (lock.acquire "c/1", wait true) re-sent first with its own id, got ${JSON.stringify(resentFirst.frame)}`);
    }
    const resentSecond = await again.next(3_000, `the re-sent request ${second.id} (lock.acquire "c/2")`);
    if (resentSecond.frame.id !== second.id || resentSecond.frame.name !== "c/2") {
      throw new ScenarioFailure(`expected request ${second.id} (lock.acquire "c/2") re-sent second, in id order, got ${JSON.stringify(resentSecond.frame)}`);
    }
    session.highestRequest = second.id;
    const fresh = await expectRequest(again, session, "lock.acquire", { name: "c/3", lease: LEASE }, 'the new lock.acquire of "c/3", after the re-sends');

    again.send(reply(first.id, { acquired: true, token: 10 }));
    again.send(reply(second.id, { acquired: true, token: 11 }));
    again.send(reply(fresh.id, { acquired: false }));
    await expectAcquired(play, waited, 10, 'the re-sent acquire of "c/1"');
    await expectAcquired(play, tried, 11, 'the re-sent acquire of "c/2"');
    const refused = await play.driver.ok(later, 3_000, 'the new acquire of "c/3"');
    if (refused.acquired !== false) throw new ScenarioFailure(`the server answered "c/3" with acquired false, the application saw ${JSON.stringify(refused)}`);
    play.note(`re-sent ${first.id}, ${second.id}, then new ${fresh.id}`);
  },
};
