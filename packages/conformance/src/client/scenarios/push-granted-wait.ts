import { LEASE, PROMPT_MS, STEADY_HEARTBEAT_MS, STEADY_TTL_MS, expectAcquired, expectRequest, openWithLease, type Scenario } from "../scenario.js";
import { reply } from "../session.js";
import { ScenarioFailure } from "../verdict.js";
import { describe } from "../../wire/codec.js";

const TOKEN = 42;
/** How long the wait stays queued before the kit grants it. */
const QUEUED_MS = 400;

export const pushGrantedWait: Scenario = {
  name: "push.granted-wait",
  section: "8 Locks (queueing); 16.2 A queued wait, granted later",
  checks: "a queued lock.acquire answered later is seen as acquired with the pushed token, and released with that name and token",
  async run(play) {
    const { session, peer, leaseHandle } = await openWithLease(play, STEADY_HEARTBEAT_MS, STEADY_TTL_MS);
    const waiting = play.driver.send("acquire", { name: "c/1", lease: leaseHandle, wait: true });
    const request = await expectRequest(peer, session, "lock.acquire", { name: "c/1", lease: LEASE, wait: true }, 'lock.acquire of "c/1" with wait true');

    const meanwhile = await peer.poll(QUEUED_MS);
    if (meanwhile !== undefined) throw new ScenarioFailure(`while its wait was queued the client sent ${describe(meanwhile.frame)}, which nobody asked for`);
    peer.send(reply(request.id, { acquired: true, token: TOKEN }));
    await expectAcquired(play, waiting, TOKEN, 'the queued acquire of "c/1"');

    const released = play.driver.send("release", { lock: waiting.id });
    const release = await expectRequest(peer, session, "lock.release", { name: "c/1", token: TOKEN }, `lock.release of "c/1" with token ${TOKEN}`);
    peer.send(reply(release.id, { released: true }));
    await play.driver.ok(released, PROMPT_MS, 'release "c/1"');
  },
};
