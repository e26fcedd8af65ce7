import { describe, expect, it } from "vitest";
import { CLIENT_OPS } from "./client-messages.js";
import { DEFAULT_LIMITS } from "./limits.js";
import { PROTOCOL_VERSION } from "./version.js";
import { Results, ServerMessage, WelcomeLimits } from "./server-messages.js";

const FIRST_LIMITS = {
  maxFrameBytes: 65_536,
  minTtlMs: 1_000,
  maxTtlMs: 86_400_000,
  maxWaitMs: 86_400_000,
  maxSessions: 100_000,
  maxLeasesPerSession: 1_000,
  maxWaitersPerLock: 100_000,
  maxLocksPerSession: 10_000,
  maxWatchesPerSession: 100,
};

describe("push reasons, open to later servers' values (PROTOCOL.md section 2)", () => {
  it("reads a lock.lost or lease.ended whose reason this version does not define, and bounds its length", () => {
    const lost = { type: "lock.lost", name: "c/1", token: 9, reason: "confiscated" };
    expect(ServerMessage.parse(lost)).toEqual(lost);
    const ended = { type: "lease.ended", lease: 3, reason: "reclaimed" };
    expect(ServerMessage.parse(ended)).toEqual(ended);
    expect(ServerMessage.safeParse({ ...lost, reason: "x".repeat(65) }).success).toBe(false);
    expect(ServerMessage.safeParse({ ...lost, reason: 7 }).success).toBe(false);
  });
});

describe("WelcomeLimits, derived from DEFAULT_LIMITS", () => {
  it("has one field per default limit, so that a limit added to DEFAULT_LIMITS is announced without another edit", () => {
    expect(Object.keys(WelcomeLimits.shape).sort()).toEqual(Object.keys(DEFAULT_LIMITS).sort());
    expect(WelcomeLimits.parse(DEFAULT_LIMITS)).toEqual(DEFAULT_LIMITS);
  });

  it("reads an older server's welcome: only the limits of the first servers are required", () => {
    expect(WelcomeLimits.parse(FIRST_LIMITS)).toEqual(FIRST_LIMITS);
    for (const name of Object.keys(FIRST_LIMITS)) {
      const { [name as keyof typeof FIRST_LIMITS]: _missing, ...without } = FIRST_LIMITS;
      expect(WelcomeLimits.safeParse(without).success, `without ${name}`).toBe(false);
    }
    // What servers before per-principal quotas sent and nobody reads is dropped, not refused.
    expect(WelcomeLimits.parse({ ...FIRST_LIMITS, maxKeysPerSession: 10_000 })).toEqual(FIRST_LIMITS);
  });

  it("takes only positive safe integers, optional limits included", () => {
    for (const name of Object.keys(DEFAULT_LIMITS)) {
      for (const bad of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, "10"]) {
        expect(WelcomeLimits.safeParse({ ...DEFAULT_LIMITS, [name]: bad }).success, `${name}: ${String(bad)}`).toBe(false);
      }
    }
  });
});

describe("ServerMessage", () => {
  it("reads a welcome carrying the server's limits", () => {
    const welcome = { type: "welcome", version: PROTOCOL_VERSION, session: "s", secret: "x", resumed: false, heartbeat: 3_333, limits: DEFAULT_LIMITS };
    expect(ServerMessage.parse(welcome)).toEqual(welcome);
    expect(ServerMessage.safeParse({ ...welcome, heartbeat: 0 }).success).toBe(false);
  });

  it("has a result schema for every request op, and only for those", () => {
    expect(Object.keys(Results).sort()).toEqual(CLIENT_OPS.filter((op) => op !== "hello" && op !== "pong").sort());
  });

  it("checks the values it carries with the stored-value rule", () => {
    const reply = (value: unknown) => Results["kv.get"].safeParse({ entry: { value, revision: 1 } }).success;
    expect(reply({ list: [1, "two"] })).toBe(true);
    expect(reply(Number.NaN)).toBe(false);
    expect(reply(new Date(0))).toBe(false);
  });
});
