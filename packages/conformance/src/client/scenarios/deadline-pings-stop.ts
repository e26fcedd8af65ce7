import { LEASE, acquireGranted, openWithLease, type Scenario } from "../scenario.js";
import { reply } from "../session.js";
import { ScenarioFailure } from "../verdict.js";
import type { DriverEvent } from "../driver.js";
import type { Arrival, Peer } from "../peer.js";
import type { Stage } from "../scripted-server.js";
import { describe } from "../../wire/codec.js";

const TTL_MS = 1_500;
/** A quarter of the TTL, as a server pings a session whose shortest kept-alive lease is 1,500 ms (section 5). */
const HEARTBEAT_MS = 375;
/** Longer than the TTL: a client that does not count acknowledged pongs (section 6) gives the lease up in this phase. */
const PINGING_MS = 2_500;
/** `clientSafetyMarginMs` for 1,500 ms: min(1000, max(20, round(1500 × 0.05))) = 75 (section 6). */
const MARGIN_MS = 75;
/**
 * The earliest the kit accepts a loss, before the deadline the spec sets (`heardAt + ttl − margin`,
 * where heardAt is at least the send time of the last acknowledged pong): the pong's trip to the kit
 * may make the kit's record of it a little later than the client's.
 */
const EARLY_SLACK_MS = 100;
/** What the kit watches for after the loss: a lease.revoke, a bye, or silence. */
const AFTERWARDS_MS = 600;

export const deadlinePingsStop: Scenario = {
  name: "deadline.pings-stop",
  section: "6 The client's own deadline",
  checks:
    "when pings stop, the application loses its lease and lock by heardAt + ttl − margin (heardAt from acknowledged pongs), before the server's own deadline, and then uses the lease no more",
  async run(play) {
    const { session, peer, leaseHandle } = await openWithLease(play, HEARTBEAT_MS, TTL_MS);
    const lockHandle = await acquireGranted(play, peer, session, "c/1", leaseHandle, LEASE, 3);

    // A healthy server: pings that acknowledge every pong, for longer than the TTL.
    const quietFrom = performance.now() + PINGING_MS;
    while (performance.now() < quietFrom) {
      const early = await peer.poll(quietFrom - performance.now());
      if (early === undefined) continue;
      // Renewing a kept-alive lease is allowed (section 9) and some clients do it on a timer; nothing else was asked for.
      const { op, lease, id } = early.frame;
      if (op !== "lease.renew" || lease !== LEASE || typeof id !== "number") {
        throw new ScenarioFailure(`while the server answered every pong, the client sent ${describe(early.frame)}, which nobody asked for`);
      }
      peer.send(reply(id, { ttl: TTL_MS }));
    }
    if (play.driver.events.length > 0) {
      throw new ScenarioFailure(`the application lost ${describeEvents(play.driver.events)} while every pong was acknowledged: heardAt must move with the ping's ack (section 6)`);
    }
    peer.stopPinging();
    const acknowledgedAt = session.ackedAt;

    const leaseLost = await play.driver.event((event) => event.of === leaseHandle, TTL_MS + 3_000, "the lease lost");
    const lockLost = await play.driver.event((event) => event.of === lockHandle, 1_000, 'the lock "c/1" lost with its lease');
    const serverDeadline = play.stage.lastHeardAt() + TTL_MS;
    const earliest = acknowledgedAt + TTL_MS - MARGIN_MS - EARLY_SLACK_MS;
    for (const [what, event] of [["lease", leaseLost], ["lock", lockLost]] as const) {
      if (event.at < earliest) {
        throw new ScenarioFailure(
          `the ${what} was lost ${(event.at - acknowledgedAt).toFixed(0)} ms after the last acknowledged pong arrived, before heardAt + ttl − margin (${TTL_MS - MARGIN_MS} ms): heardAt must count acknowledged pongs`,
        );
      }
      if (event.at > serverDeadline) {
        throw new ScenarioFailure(
          `the ${what} was lost ${(event.at - serverDeadline).toFixed(0)} ms after the server's deadline (the last frame heard + ttl): a server could already have granted it to someone else (section 15, "loss is told first")`,
        );
      }
    }
    play.note(`lost ${(leaseLost.at - acknowledgedAt).toFixed(0)} ms after the last acknowledged pong (spec: ${TTL_MS - MARGIN_MS}), ${(serverDeadline - leaseLost.at).toFixed(0)} ms before the server's deadline`);
    play.note(`afterwards the client sent: ${await watchAfterLoss(play.stage, leaseLost.at)}`);
  },
};

/**
 * After the loss a client may revoke the lease (section 6), say `bye`, reconnect, or stay silent.
 * Anything sent after `lostAt` that still uses the lease is a failure (a renewal sent before it, into
 * the silence, is not). Returns what it did, for the report.
 */
async function watchAfterLoss(stage: Stage, lostAt: number): Promise<string> {
  const seen: string[] = [];
  const until = performance.now() + AFTERWARDS_MS;
  for (;;) {
    const left = until - performance.now();
    if (left <= 0) break;
    const arrival = await nextFromAny(stage.peers, left);
    if (arrival === undefined) break;
    const { frame, peer, at } = arrival;
    const op = String(frame.op);
    if (at < lostAt) {
      seen.push(`${op} (before the loss)`);
    } else if (op === "lease.revoke" && frame.lease === LEASE) {
      seen.push("lease.revoke");
      if (typeof frame.id === "number") peer.send(reply(frame.id, {}));
    } else if (op === "bye" || op === "hello" || op === "lock.release") {
      seen.push(op);
    } else if (frame.lease === LEASE) {
      throw new ScenarioFailure(`after giving the lease up the client still used it: ${describe(frame)}; a lease given up never becomes valid again (section 6)`);
    } else {
      seen.push(op);
    }
  }
  return seen.length === 0 ? "nothing (silence)" : seen.join(", ");
}

/** The next frame from any of the scenario's connections (the client may have reconnected meanwhile). */
async function nextFromAny(peers: Peer[], ms: number): Promise<(Arrival & { peer: Peer }) | undefined> {
  const until = performance.now() + ms;
  for (;;) {
    for (const peer of peers) {
      const arrival = await peer.poll(0);
      if (arrival !== undefined) return { ...arrival, peer };
    }
    if (performance.now() >= until) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function describeEvents(events: DriverEvent[]): string {
  return events.map((event) => `${event.of} (${event.code})`).join(", ");
}
