/**
 * Per-principal counts and each session's principal are stored with the data: after a restart a
 * principal's parked sessions and keys still count against it, and a session's secret in the hands
 * of another principal does not resume it.
 */
import { describe, expect, it } from "vitest";
import { CloseCode, ErrorCode, PROTOCOL_VERSION, type ServerMessage } from "@leasehold/protocol";
import { createServer, type LeaseholdServer } from "@leasehold/server";
import { dataDir, defer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";

/** Tenant A may hold 2 sessions and 3 keys. */
async function start(dir: string): Promise<LeaseholdServer> {
  const tokens = STATIC_TOKENS.map((entry) => (entry.name === "tenant-a" ? { ...entry, limits: { maxSessions: 2, maxKeys: 3 } } : entry));
  const server = await createServer({ host: "127.0.0.1", port: 0, dataDir: dir, auth: { tokens }, limits: { minTtlMs: 100 } });
  defer(() => server.close());
  return server;
}

/** A hello (resuming `resume` if given), answered by a welcome or by an error. */
async function hello(url: string, auth: string, resume?: { session: string; secret: string }): Promise<{ raw: Raw; answer: ServerMessage }> {
  const raw = await Raw.open(url);
  raw.send({ op: "hello", version: PROTOCOL_VERSION, agent: "raw", auth, resume });
  return { raw, answer: await raw.next((message) => message.type === "welcome" || message.type === "error") };
}

describe("per-principal quotas across a restart", () => {
  it("counts parked sessions and keys after a restart, and a session resumes only for its own principal", async () => {
    const dir = dataDir();
    const before = await start(dir);
    const { raw: first, answer: welcome } = await hello(before.url, TOKENS.tenantA);
    if (welcome.type !== "welcome") throw new Error(`no welcome: ${JSON.stringify(welcome)}`);
    await first.grant(60_000);
    for (const key of ["tenant-a/1", "tenant-a/2", "tenant-a/3"]) expect(await first.request({ op: "kv.put", key, value: 1 })).toMatchObject({ type: "reply" });
    const { raw: parked } = await hello(before.url, TOKENS.tenantA);
    await parked.request({ op: "lease.grant", ttl: 60_000, keepAlive: false });
    parked.socket.close();
    await before.close();

    const after = await start(dir);
    // Both sessions were restored and still count: a third is refused.
    const third = await hello(after.url, TOKENS.tenantA);
    expect(third.answer).toMatchObject({ type: "error", code: ErrorCode.LIMIT_EXCEEDED });
    expect((await third.raw.closed()).code).toBe(CloseCode.TOO_MANY_SESSIONS);
    // Another principal holding the secret gets a session of its own, not this one.
    const resume = { session: welcome.session, secret: welcome.secret };
    const thief = await hello(after.url, TOKENS.tenantB, resume);
    expect(thief.answer).toMatchObject({ type: "welcome", resumed: false });
    expect(thief.answer.type === "welcome" && thief.answer.session).not.toBe(welcome.session);
    // Its own principal resumes it; its keys still count.
    const owner = await hello(after.url, TOKENS.tenantA, resume);
    expect(owner.answer).toMatchObject({ type: "welcome", resumed: true, session: welcome.session });
    owner.raw.lastId = first.lastId; // request ids go on from where the session left off
    expect(await owner.raw.request({ op: "kv.put", key: "tenant-a/4", value: 1 })).toMatchObject({ type: "error", code: ErrorCode.LIMIT_EXCEEDED });
    expect(await owner.raw.request({ op: "kv.delete", key: "tenant-a/1" })).toMatchObject({ type: "reply", result: { deleted: true } });
    expect(await owner.raw.request({ op: "kv.put", key: "tenant-a/4", value: 1 })).toMatchObject({ type: "reply" });
  });
});
