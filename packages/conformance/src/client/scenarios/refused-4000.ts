import { LEASE, PROMPT_MS, STEADY_HEARTBEAT_MS, STEADY_TTL_MS, expectAcquired, expectRequest, openWithLease, takeResume, welcomeBack, type Scenario } from "../scenario.js";
import { errorFrame, reply } from "../session.js";
import { ScenarioFailure } from "../verdict.js";
import { describe } from "../../wire/codec.js";

const PROTOCOL_ERROR = 4000;
/** How long the kit watches for re-sends after its welcome: a client re-sends before anything else, at once. */
const RESEND_WINDOW_MS = 500;

/**
 * The kit refuses a request as a frame it cannot trust: an `error` BAD_REQUEST, then close 4000.
 * With `idRead` the error carries the request's id (and the id counts in `lastRequest`); without,
 * it has none and the refused frame is the first request above `lastRequest` on the closed connection.
 * Either way the client must fail that request with the server's error and never send it again.
 */
function refused4000(idRead: boolean): Scenario {
  return {
    name: idRead ? "refused-4000.with-id" : "refused-4000.without-id",
    section: "7 Resuming a session (a request that closed the connection)",
    checks: `a request refused with an error ${idRead ? "carrying its id" : "without id"} and close 4000 fails with BAD_REQUEST and is not sent again after the resume`,
    async run(play) {
      const { session, peer, leaseHandle } = await openWithLease(play, STEADY_HEARTBEAT_MS, STEADY_TTL_MS);
      const granted = session.highestRequest;

      const doomed = play.driver.send("acquire", { name: "c/1", lease: leaseHandle });
      const bad = await expectRequest(peer, session, "lock.acquire", { name: "c/1", lease: LEASE }, 'lock.acquire of "c/1"');
      const message = "the conformance kit refuses this frame as one it cannot trust";
      peer.send(idRead ? errorFrame("BAD_REQUEST", message, bad.id) : errorFrame("BAD_REQUEST", message));
      peer.socket.close(PROTOCOL_ERROR, "refused frame");

      const again = await takeResume(play, session);
      welcomeBack(again, session, STEADY_HEARTBEAT_MS, {
        lastRequest: idRead ? bad.id : granted,
        leases: [{ lease: LEASE, ttl: STEADY_TTL_MS, keepAlive: true }],
        holds: [],
        waits: [],
      });
      // Ids never go back: the next request is above the refused one whatever lastRequest says.
      session.highestRequest = bad.id;
      again.startPinging(STEADY_HEARTBEAT_MS);

      // A client that re-sends the refused request does so at once, in step 1 of its resume.
      const resent = await again.poll(RESEND_WINDOW_MS);
      if (resent !== undefined) {
        const again4000 = resent.frame.id === bad.id || resent.frame.name === "c/1";
        throw new ScenarioFailure(
          again4000
            ? `the client sent the request refused with close 4000 again (${describe(resent.frame)}); it would be refused after every resume, for ever`
            : `after the resume the client sent ${describe(resent.frame)}, which nobody asked for`,
        );
      }
      const answer = await play.driver.answer(doomed, PROMPT_MS, 'the refused acquire of "c/1"');
      if (!("error" in answer) || answer.error.code !== "BAD_REQUEST") {
        throw new ScenarioFailure(`the refused acquire of "c/1" must fail with the server's error BAD_REQUEST, the application saw ${describe(answer)}`);
      }
      const next = play.driver.send("acquire", { name: "c/2", lease: leaseHandle });
      const fresh = await expectRequest(again, session, "lock.acquire", { name: "c/2", lease: LEASE }, 'the new lock.acquire of "c/2"');
      again.send(reply(fresh.id, { acquired: true, token: 5 }));
      await expectAcquired(play, next, 5, 'the new acquire of "c/2"');
    },
  };
}

export const refused4000WithId = refused4000(true);
export const refused4000WithoutId = refused4000(false);
