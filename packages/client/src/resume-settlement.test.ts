import { ErrorCode, type Request, type Resync } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { ConnectionError } from "./errors.js";
import { settleInFlight, type Settlement } from "./resume-settlement.js";

/** The server received requests up to 10, holds lease 1, lock token 50 (won by request 3) and queues request 4. */
const resync: Resync = {
  lastRequest: 10,
  leases: [{ lease: 1, ttl: 5_000, keepAlive: true }],
  holds: [{ request: 3, name: "held", lease: 1, token: 50 }],
  waits: [{ request: 4, name: "queued", lease: 1 }],
};

const unknown = expect.objectContaining({ code: ErrorCode.OUTCOME_UNKNOWN });

describe("settleInFlight: a request the server received, its answer lost", () => {
  it.each<[string, Request, unknown]>([
    ["an acquire that won the lock", { op: "lock.acquire", id: 3, name: "held", lease: 1 }, { kind: "settle", result: { acquired: true, token: 50 } }],
    ["an acquire still queued", { op: "lock.acquire", id: 4, name: "queued", lease: 1, wait: true }, { kind: "await" }],
    ["an acquire that holds nothing (refused, or granted and lost since)", { op: "lock.acquire", id: 5, name: "other", lease: 1 }, { kind: "settle", result: { acquired: false } }],
    ["a campaign that won", { op: "election.campaign", id: 3, name: "held", lease: 1, value: "me" }, { kind: "settle", result: { elected: true, token: 50 } }],
    ["a campaign still queued", { op: "election.campaign", id: 4, name: "queued", lease: 1, value: "me" }, { kind: "await" }],
    ["a campaign that holds nothing", { op: "election.campaign", id: 6, name: "other", lease: 1, value: "me" }, { kind: "settle", result: { elected: false } }],
    ["a release of a lock no longer held", { op: "lock.release", id: 7, name: "gone", token: 49 }, { kind: "settle", result: { released: true } }],
    ["a release of a lock still held", { op: "lock.release", id: 7, name: "held", token: 50 }, { kind: "settle", result: { released: false } }],
    ["a resign of a term no longer held", { op: "election.resign", id: 7, name: "gone", token: 49 }, { kind: "settle", result: { resigned: true } }],
    ["a resign of a term still held", { op: "election.resign", id: 7, name: "held", token: 50 }, { kind: "settle", result: { resigned: false } }],
    ["a revoke of a lease gone", { op: "lease.revoke", id: 8, lease: 2 }, { kind: "settle", result: {} }],
    ["a revoke of a lease still held", { op: "lease.revoke", id: 8, lease: 1 }, { kind: "fail", error: expect.objectContaining({ code: ErrorCode.OUTCOME_UNKNOWN, message: expect.stringMatching(/revoke it again/) }) }],
    ["a write, whose outcome the resync cannot tell", { op: "kv.put", id: 9, key: "k", value: 1 }, { kind: "fail", error: unknown }],
    ["a grant, whose lease (if any) the client gives back apart", { op: "lease.grant", id: 10, ttl: 5_000, keepAlive: true }, { kind: "fail", error: unknown }],
  ])("%s", (_name, message, settlement) => {
    expect(settleInFlight([{ message, sent: true }], resync)).toEqual([settlement]);
  });
});

describe("settleInFlight: requests the server never received", () => {
  const put = (id: number): Request => ({ op: "kv.put", id, key: "k", value: id });
  const refused = new ConnectionError(ErrorCode.BAD_REQUEST, "unreadable frame");

  it.each<[string, { id: number; sent: boolean }[], Error | undefined, Settlement["kind"][]]>([
    ["go out again, sent or not", [{ id: 11, sent: true }, { id: 12, sent: false }], undefined, ["resend", "resend"]],
    ["after a refused frame: the first one sent fails, the rest go out again", [{ id: 11, sent: true }, { id: 12, sent: true }], refused, ["fail", "resend"]],
    ["after a refused frame: one never sent cannot be the culprit", [{ id: 11, sent: false }, { id: 12, sent: true }, { id: 13, sent: true }], refused, ["resend", "fail", "resend"]],
    ["after a refused frame: received requests are not the culprit", [{ id: 10, sent: true }, { id: 11, sent: true }], refused, ["fail", "fail"]],
    ["after a refused frame with nothing sent above lastRequest: nothing fails for it", [{ id: 11, sent: false }], refused, ["resend"]],
  ])("%s", (_name, requests, refusal, kinds) => {
    const settlements = settleInFlight(
      requests.map(({ id, sent }) => ({ message: put(id), sent })),
      resync,
      refusal as ConnectionError | undefined,
    );
    expect(settlements.map((settlement) => settlement.kind)).toEqual(kinds);
    const culprit = settlements.find((settlement, index) => settlement.kind === "fail" && requests[index]!.id > resync.lastRequest);
    if (culprit?.kind === "fail") expect(culprit.error).toBe(refused);
  });
});
