/**
 * Attack: park sessions. `lease.grant` needs no right, a lease may live a day without keep-alive, and a
 * detached session lives as long as its longest lease; on main one token parked enough sessions in
 * seconds that the operator was refused (4005). Now sessions count per principal, detached ones
 * included, and the last places of `maxSessions` are reserved for admins.
 */
import { describe, expect, it } from "vitest";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { Bystander, measureControl, startTarget } from "./support.js";
import { handshake, tokenFile, TOKENS } from "./tenants.js";

const DAY_MS = 86_400_000;
/** The attacker's own cap (its token file entry), well below the server's. */
const ATTACKER_SESSIONS = 50;
const SERVER_SESSIONS = 300;

describe("hostile: parking sessions", () => {
  it("one principal parks sessions only up to its cap (4005 past it); the admin and other tenants get in; existing leases run on", async () => {
    const target = await startTarget(["--memory", "--auth-file", tokenFile({ maxSessions: ATTACKER_SESSIONS }), "--max-sessions", String(SERVER_SESSIONS)]);
    const control = await measureControl(target.url, { auth: TOKENS.tenantB });
    const bystander = await Bystander.start(target.url, { auth: TOKENS.tenantB });
    const rssBefore = target.rssBytes();

    // One session of the attacker stays connected, holding a day-long lease: it must not be cut short.
    const { raw: holder } = await handshake(target.url, TOKENS.tenantA);
    const heldLease = await holder.grant(DAY_MS);

    // Then sessions parked as fast as one connection at a time allows: hello, a day-long lease without keep-alive, close.
    let parked = 1;
    let refusal: { code: string | undefined; close: number } | undefined;
    const started = performance.now();
    for (let attempt = 0; attempt < SERVER_SESSIONS + 10 && !refusal; attempt++) {
      const { raw, answer } = await handshake(target.url, TOKENS.tenantA);
      if (answer.type === "welcome") {
        const granted = await raw.request({ op: "lease.grant", ttl: DAY_MS, keepAlive: false });
        expect(granted.type).toBe("reply");
        parked++;
        raw.socket.close();
      } else {
        refusal = { code: answer.type === "error" ? answer.code : undefined, close: (await raw.closed()).code };
      }
    }
    const elapsedMs = performance.now() - started;
    expect(refusal).toEqual({ code: ErrorCode.LIMIT_EXCEEDED, close: CloseCode.TOO_MANY_SESSIONS });
    expect(parked).toBe(ATTACKER_SESSIONS);
    expect(elapsedMs, "the cap is reached quickly").toBeLessThan(30_000);

    // The operator gets in and sees the server; the other tenant opens a session of its own.
    const { raw: admin, answer: adminWelcome } = await handshake(target.url, TOKENS.admin);
    expect(adminWelcome.type).toBe("welcome");
    const state = await admin.request({ op: "admin.state" });
    expect(state.type).toBe("reply");
    const sessions = state.type === "reply" ? (state.result.sessions as unknown[]).length : 0;
    expect(sessions).toBe(ATTACKER_SESSIONS + 2); // the attacker's, the bystander's, the admin's
    // Every lease the attacker was granted is still there (one per session, parked or not).
    expect(state.type === "reply" && (state.result.leases as unknown[]).length).toBe(ATTACKER_SESSIONS);
    const { answer: otherTenant } = await handshake(target.url, TOKENS.tenantB);
    expect(otherTenant.type).toBe("welcome");

    // Nothing of the attacker ended early: its connected session's lease is live, and it was told of no loss.
    const ttl = await holder.request({ op: "lease.ttl", lease: heldLease });
    expect(ttl).toMatchObject({ type: "reply", result: { remaining: expect.any(Number) } });
    expect(holder.received.filter((message) => message.type === "lease.ended")).toEqual([]);

    await bystander.expectUnharmed(control);
    expect(target.rssBytes() - rssBefore, "server memory growth").toBeLessThan(64 * 1024 * 1024);
    expect(target.alive()).toBe(true);
  });

  it("a principal allowed more than the server holds fills it only up to the admin reserve: the operator still gets in", async () => {
    const maxSessions = 100; // reserve: min(100, a tenth) = 10
    const target = await startTarget(["--memory", "--auth-file", tokenFile({ maxSessions: 1_000 }), "--max-sessions", String(maxSessions)]);
    let parked = 0;
    let refusal: string | undefined;
    for (let attempt = 0; attempt < maxSessions + 10 && refusal === undefined; attempt++) {
      const { raw, answer } = await handshake(target.url, TOKENS.tenantA);
      if (answer.type === "welcome") {
        parked++;
        raw.socket.close();
      } else {
        refusal = answer.type === "error" ? answer.code : answer.type;
        expect((await raw.closed()).code).toBe(CloseCode.TOO_MANY_SESSIONS);
      }
    }
    expect(refusal).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(parked).toBe(maxSessions - 10);
    // Another tenant is refused too (the server is full for non-admins), and the operator is not.
    expect((await handshake(target.url, TOKENS.tenantB)).answer).toMatchObject({ type: "error", code: ErrorCode.LIMIT_EXCEEDED });
    expect((await handshake(target.url, TOKENS.admin)).answer.type).toBe("welcome");
  });
});
