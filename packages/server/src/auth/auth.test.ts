import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, FakeClock } from "@leasehold/protocol";
import { Account } from "../core/accounts.js";
import { Session } from "../core/model.js";
import { AddressQuota, AddressRate, TokenBucket } from "./quota.js";
import { Authenticator } from "./authenticator.js";
import { Guard, REFUSED_FLOOD_PAUSE_MS } from "./guard.js";
import { OriginPolicy } from "./origin.js";
import { ANONYMOUS, allows, parseGrants, type Principal } from "./permissions.js";
import { StaticTokens } from "./static-tokens.js";

const tenant: Principal = {
  name: "tenant-a",
  via: "token",
  unrestricted: false,
  grants: parseGrants([{ prefix: "tenant-a/", allow: ["lock", "read"] }, { prefix: "shared/", allow: ["read"] }], "test"),
};

describe("permissions", () => {
  it("allow a right on names, and on prefixes only when the whole range is inside a grant", () => {
    expect(allows(tenant, "lock", "tenant-a/job")).toBe(true);
    expect(allows(tenant, "read", "shared/config")).toBe(true);
    expect(allows(tenant, "lock", "shared/config")).toBe(false);
    expect(allows(tenant, "write", "tenant-a/job")).toBe(false);
    expect(allows(tenant, "lock", "tenant-b/job")).toBe(false);
    expect(allows(tenant, "lock", "tenant-a")).toBe(false);
    // Prefixes: "tenant-a/x" is inside "tenant-a/"; "" and "tenant-" reach other tenants' names.
    expect(allows(tenant, "read", "tenant-a/x")).toBe(true);
    expect(allows(tenant, "read", "")).toBe(false);
    expect(allows(tenant, "read", "tenant-")).toBe(false);
    expect(allows(ANONYMOUS, "admin", "")).toBe(true);
  });

  it("refuse malformed grants with a message that says what is wrong", () => {
    expect(() => parseGrants({}, "claim")).toThrow("must be an array");
    expect(() => parseGrants([{ prefix: "a/", allow: ["root"] }], "claim")).toThrow('unknown right "root"');
    expect(() => parseGrants([{ prefix: 3, allow: ["read"] }], "claim")).toThrow("prefix must be a string");
    expect(() => parseGrants([{ prefix: "a/", allow: [] }], "claim")).toThrow("non-empty");
  });
});

describe("static tokens", () => {
  it("find a principal by token or by the token's SHA-256, and nothing for anything else", () => {
    const token = "0123456789abcdef-worker";
    const digest = createHash("sha256").update("0123456789abcdef-ops").digest("hex");
    const tokens = new StaticTokens([
      { name: "worker", token, permissions: [{ prefix: "jobs/", allow: ["lock"] }] },
      { name: "ops", sha256: digest, permissions: [{ prefix: "", allow: ["admin"] }] },
    ]);
    expect(tokens.find(token)?.name).toBe("worker");
    expect(tokens.find("0123456789abcdef-ops")?.name).toBe("ops");
    expect(tokens.find(token.toUpperCase())).toBeUndefined();
    expect(tokens.find("")).toBeUndefined();
  });

  it("refuse short tokens, duplicates and entries without a token", () => {
    const permissions = [{ prefix: "", allow: ["read"] }];
    expect(() => new StaticTokens([{ name: "a", token: "short", permissions }])).toThrow("at least 16");
    expect(() => new StaticTokens([{ name: "a", permissions }])).toThrow('needs "token"');
    const token = "0123456789abcdef";
    expect(() => new StaticTokens([{ name: "a", token, permissions }, { name: "b", token, permissions }])).toThrow("twice");
  });

  it("without auth options everyone is anonymous; an empty token list still turns authentication on", () => {
    const off = new Authenticator(undefined);
    expect(off.enabled).toBe(false);
    expect(off.authenticate("anything")).toEqual({ ok: true, principal: ANONYMOUS });
    const empty = new Authenticator({ tokens: [] });
    expect(empty.enabled).toBe(true);
    expect(empty.authenticate("0123456789abcdef")).toMatchObject({ ok: false });
    expect(empty.authenticate(undefined)).toMatchObject({ ok: false, reason: expect.stringContaining("requires authentication") });
  });
});

describe("origin policy", () => {
  it("with a list allows exactly the listed origins, normalized as browsers send them", () => {
    const policy = new OriginPolicy(["https://App.Example:443", "http://localhost:3000"]);
    expect(policy.allows("https://app.example", "leasehold:7070")).toBe(true);
    expect(policy.allows("http://localhost:3000", undefined)).toBe(true);
    expect(policy.allows("http://localhost:3001", undefined)).toBe(false);
    expect(policy.allows("https://evil.example", "leasehold:7070")).toBe(false);
    expect(policy.allows(undefined, "leasehold:7070")).toBe(true);
  });

  it("without a list allows the server's own origin and loopback pages", () => {
    const policy = new OriginPolicy(undefined);
    expect(policy.allows("https://locks.example.com", "locks.example.com")).toBe(true);
    expect(policy.allows("http://127.0.0.2:8080", "locks.example.com")).toBe(true);
    expect(policy.allows("http://[::1]:8080", "locks.example.com")).toBe(true);
    expect(policy.allows("https://evil.example", "locks.example.com")).toBe(false);
    expect(policy.allows("null", "locks.example.com")).toBe(false);
  });
});

describe("quotas", () => {
  it("a token bucket allows a burst, then the sustained rate", () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, 3, clock.now());
    expect([1, 2, 3, 4].map(() => bucket.take(clock.now()))).toEqual([true, true, true, false]);
    expect(bucket.msUntilToken(clock.now())).toBe(100);
    clock.advance(100);
    expect(bucket.take(clock.now())).toBe(true);
    expect(bucket.take(clock.now())).toBe(false);
    clock.advance(10_000);
    expect([1, 2, 3, 4].map(() => bucket.take(clock.now()))).toEqual([true, true, true, false]);
  });

  it("bounds new connections per address per second, each address on its own", () => {
    const clock = new FakeClock();
    const rate = new AddressRate(2);
    const take = (ip: string) => rate.take(ip, clock.now());
    expect([take("10.0.0.1"), take("10.0.0.1"), take("10.0.0.1"), take("10.0.0.2")]).toEqual([true, true, false, true]);
    clock.advance(500);
    expect([take("10.0.0.1"), take("10.0.0.1")]).toEqual([true, false]);
  });

  it("counts every frame of a session: past the budget RATE_LIMITED, past as much again cut off; bye and cancel get through", () => {
    const clock = new FakeClock();
    const guard = new Guard(new Authenticator(undefined), { ...DEFAULT_LIMITS, maxRequestsPerSecond: 1, requestBurst: 2 }, clock);
    const session = new Session("s", "secret", clock.now(), "127.0.0.1:1", undefined, new Account("test", DEFAULT_LIMITS), undefined, clock.wallNow());
    const socket = { readyState: 1, paused: 0, pause() { this.paused++; }, resume() {} };
    guard.attach(session, ANONYMOUS, socket);
    const frames = ["counter.get", undefined, "pong", "cancel", "bye", "counter.get"].map((op) => guard.frame(session, op));
    expect(frames).toEqual(["allowed", "allowed", "refused", "allowed", "allowed", "cut"]);
    expect(socket.paused).toBe(1);
    // A resumed session starts from the budget it left with, refilled by the time since.
    guard.attach(session, ANONYMOUS, socket);
    clock.advance(1_000);
    expect(guard.frame(session, "counter.get")).toBe("allowed");
  });

  it("counts a frame at the instant it is given (the one its connection read for the frame's liveness), not at a clock read of its own", () => {
    const clock = new FakeClock();
    const guard = new Guard(new Authenticator(undefined), { ...DEFAULT_LIMITS, maxRequestsPerSecond: 1, requestBurst: 1 }, clock);
    const session = new Session("s", "secret", clock.now(), "127.0.0.1:1", undefined, new Account("test", DEFAULT_LIMITS), undefined, clock.wallNow());
    guard.attach(session, ANONYMOUS, { readyState: 1, pause() {}, resume() {} });
    expect(guard.frame(session, "counter.get", clock.now())).toBe("allowed");
    // A second later by the instant given, though the clock has not moved: the bucket has its token back.
    expect(guard.frame(session, "counter.get", clock.now() + 1_000)).toBe("allowed");
    expect(guard.frame(session, "counter.get", clock.now() + 1_000)).toBe("refused");
  });

  it("a frame refused anyway takes ten tokens, and a budget spent on such frames leaves the socket unread for 200 ms rather than 5", () => {
    const clock = new FakeClock();
    const guard = new Guard(new Authenticator(undefined), { ...DEFAULT_LIMITS, maxRequestsPerSecond: 1_000, requestBurst: 20 }, clock);
    const session = new Session("s", "secret", clock.now(), "127.0.0.1:1", undefined, new Account("test", DEFAULT_LIMITS), undefined, clock.wallNow());
    const socket = { readyState: 1, paused: 0, resumed: 0, pause() { this.paused++; }, resume() { this.resumed++; } };
    guard.attach(session, ANONYMOUS, socket);
    const refusedFrame = () => {
      const verdict = guard.frame(session, "counter.get");
      if (verdict === "allowed") guard.refusedAnyway(session); // a stale id, say
      return verdict;
    };
    expect([1, 2, 3].map(refusedFrame)).toEqual(["allowed", "allowed", "refused"]);
    expect(socket.paused).toBe(1);
    clock.advance(REFUSED_FLOOD_PAUSE_MS - 1);
    expect(socket.resumed).toBe(0);
    clock.advance(1);
    expect(socket.resumed).toBe(1);
    // Ordinary frames past the budget (refilled by now): paused until a token is back (1 ms here), 5 ms at least.
    const verdicts = Array.from({ length: 21 }, () => guard.frame(session, "counter.get"));
    expect(verdicts.filter((verdict) => verdict === "allowed").length).toBe(20);
    expect(socket.paused).toBe(2);
    clock.advance(4);
    expect(socket.resumed).toBe(1);
    clock.advance(1);
    expect(socket.resumed).toBe(2);
  });

  it("counts connections per address and gives places back", () => {
    const quota = new AddressQuota({ maxConnectionsPerAddress: 2 });
    expect([quota.tryOpen("10.0.0.1"), quota.tryOpen("10.0.0.1"), quota.tryOpen("10.0.0.1"), quota.tryOpen("10.0.0.2")]).toEqual([true, true, false, true]);
    quota.closed("10.0.0.1");
    expect(quota.tryOpen("10.0.0.1")).toBe(true);
    expect(quota.count("10.0.0.1")).toBe(2);
  });
});
