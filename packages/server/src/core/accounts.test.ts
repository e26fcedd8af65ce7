import { DEFAULT_LIMITS, ErrorCode, FakeClock } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { Accounts, principalDefaults, type PrincipalLimits } from "./accounts.js";
import { sessionOwner } from "../auth/session-owner.js";
import { parseGrants, type Principal } from "../auth/permissions.js";
import { Coordinator } from "./coordinator.js";
import { resolveOptions, type ServerOptions } from "../options.js";

const defaults: PrincipalLimits = { ...principalDefaults(DEFAULT_LIMITS), maxLeasesPerPrincipal: 2, maxBytesPerPrincipal: 100 };

function principal(name: string, rights: string[] = ["lock"], limits?: Partial<PrincipalLimits>): Principal {
  return { name, via: "token", unrestricted: false, grants: parseGrants([{ prefix: "", allow: rights }], "test"), limits };
}

describe("Accounts", () => {
  it("counts what each account takes, refuses past its limit with a code, and gives back", () => {
    const accounts = new Accounts(defaults, undefined);
    const a = accounts.open("token:a");
    accounts.take(a, "leases");
    accounts.take(a, "leases");
    expect(() => accounts.take(a, "leases")).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED, message: expect.stringContaining("token:a holds 2 leases") }));
    expect(a.leases).toBe(2);
    accounts.give(a, "leases");
    accounts.take(a, "leases");
    // Another account has its own counts.
    accounts.take(accounts.open("token:b"), "leases");
    expect(accounts.get("token:b")?.leases).toBe(1);
  });

  it("refuses bytes past the principal's quota and past the server's, counting only growth", () => {
    const accounts = new Accounts(defaults, 150);
    const a = accounts.open("token:a");
    const b = accounts.open("token:b");
    accounts.take(a, "bytes", 100);
    expect(() => accounts.check(a, "bytes", 1)).toThrow(expect.objectContaining({ code: ErrorCode.QUOTA_EXCEEDED, message: expect.stringContaining("quota of 100") }));
    accounts.check(a, "bytes", -50); // shrinking always passes
    accounts.take(b, "bytes", 50);
    expect(accounts.totalBytes).toBe(150);
    expect(() => accounts.check(b, "bytes", 1)).toThrow(expect.objectContaining({ code: ErrorCode.QUOTA_EXCEEDED, message: expect.stringContaining("--max-data-bytes") }));
    // A value changing hands: the new owner's bytes grow, the server's total does not.
    accounts.check(b, "bytes", 40, 0);
    accounts.give(a, "bytes", 100);
    expect(accounts.totalBytes).toBe(50);
  });

  it("forgets an account with nothing left, and applies a principal's own limits over the defaults", () => {
    const accounts = new Accounts(defaults, undefined);
    const a = accounts.open("token:a", { maxLeasesPerPrincipal: 5 });
    for (let index = 0; index < 5; index++) accounts.take(a, "leases");
    expect(() => accounts.take(a, "leases")).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
    for (let index = 0; index < 5; index++) accounts.give(a, "leases");
    expect(accounts.size).toBe(0);
  });

  it("keys an owner by principal, or by address when authentication is off; an admin is one with the admin right over every name", () => {
    expect(sessionOwner(principal("worker"), "10.0.0.1")).toEqual({ principal: "token:worker", account: "token:worker", limits: undefined, admin: false });
    expect(sessionOwner(principal("ops", ["admin"]), "10.0.0.1").admin).toBe(true);
    const anonymous = sessionOwner({ name: "anonymous", via: "anonymous", unrestricted: true, grants: [] }, "10.0.0.1");
    expect(anonymous).toMatchObject({ account: "address:10.0.0.1", admin: true });
  });
});

describe("per-principal quotas in the coordinator", () => {
  function setup(options: Omit<ServerOptions, "clock"> = {}) {
    const clock = new FakeClock(0);
    const coordinator = new Coordinator(resolveOptions({ ...options, clock }));
    return { clock, coordinator };
  }

  it("counts detached sessions until they expire with their longest lease, then gives their places back", () => {
    const { clock, coordinator } = setup({ limits: { maxSessionsPerPrincipal: 2, minTtlMs: 100 }, sessionGraceMs: 1_000 });
    const owner = sessionOwner(principal("worker"), "10.0.0.1");
    // Sessions are never attached to a connection here: detached from the start, as parked ones are.
    for (const _ of [1, 2]) coordinator.grantLease(coordinator.openSession("test", undefined, owner), 60_000, false);
    expect(() => coordinator.openSession("test", undefined, owner)).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
    expect(coordinator.openSession("test", undefined, sessionOwner(principal("other"), "10.0.0.1"))).toBeDefined();
    // Not a moment before the lease's TTL is the place given back.
    clock.advance(59_999);
    expect(() => coordinator.openSession("test", undefined, owner)).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
    clock.advance(1);
    expect(coordinator.openSession("test", undefined, owner)).toBeDefined();
    expect(coordinator.accounts.get("token:worker")).toMatchObject({ sessions: 1, leases: 0 });
  });

  it("caps leases across a principal's sessions, and its TTL at its own cap", () => {
    const { coordinator } = setup({ limits: { maxLeasesPerPrincipal: 2 } });
    const owner = sessionOwner(principal("worker", ["lock"], { maxTtlMs: 5_000 }), "10.0.0.1");
    const one = coordinator.openSession("test", undefined, owner);
    const two = coordinator.openSession("test", undefined, owner);
    expect(() => coordinator.grantLease(one, 5_001, true)).toThrow(expect.objectContaining({ code: ErrorCode.OUT_OF_RANGE, message: expect.stringContaining("5000 ms") }));
    const lease = coordinator.grantLease(one, 5_000, true);
    coordinator.grantLease(two, 5_000, true);
    expect(() => coordinator.grantLease(two, 5_000, true)).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
    coordinator.endLease(lease, "released");
    expect(coordinator.grantLease(two, 5_000, true).ended).toBe(false);
  });

  it("keeps the last places of maxSessions for admins", () => {
    const { coordinator } = setup({ limits: { maxSessions: 20, adminReservedSessions: 5 } }); // a tenth: 2 reserved
    const tenant = sessionOwner(principal("tenant"), "10.0.0.1");
    for (let index = 0; index < 18; index++) coordinator.openSession("test", undefined, tenant);
    expect(() => coordinator.openSession("test", undefined, tenant)).toThrow(expect.objectContaining({ message: expect.stringContaining("reserved for admins") }));
    const admin = sessionOwner(principal("ops", ["admin"]), "10.0.0.1");
    coordinator.openSession("test", undefined, admin);
    coordinator.openSession("test", undefined, admin);
    expect(() => coordinator.openSession("test", undefined, admin)).toThrow(expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }));
  });
});
