/**
 * Attack: election values. Every waiting candidate's value is kept (1,000 campaigns of 60 KB: +69 MB).
 * Now a candidate's value counts against its principal's stored bytes while it holds or awaits the
 * seat (QUOTA_EXCEEDED past them), and is given back when it resigns, is cancelled or its lease ends.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "@leasehold/protocol";
import { startClient } from "../support/fixtures.js";
import { Bystander, measureControl, startTarget } from "./support.js";
import { handshake, tokenFile, TOKENS } from "./tenants.js";

const VALUE = "v".repeat(60_000);
const QUOTA = 4 * 1024 * 1024;

describe("hostile: election values", () => {
  it("campaigns with large values stop at the principal's byte quota; the leader stays; a cancel gives room back; others campaign", async () => {
    const target = await startTarget(["--memory", "--auth-file", tokenFile({ maxBytes: QUOTA })]);
    const control = await measureControl(target.url, { auth: TOKENS.tenantB });
    const bystander = await Bystander.start(target.url, { auth: TOKENS.tenantB });
    const rssBefore = target.rssBytes();
    const { raw } = await handshake(target.url, TOKENS.tenantA);
    const lease = await raw.grant(60_000);
    const first = await raw.request({ op: "election.campaign", name: "tenant-a/e", lease, value: VALUE });
    expect(first).toMatchObject({ type: "reply", result: { elected: true } });
    let last = 0;
    for (let index = 0; index < 200; index++) last = raw.fire({ op: "election.campaign", name: "tenant-a/e", lease, value: VALUE, wait: true });
    await raw.next((message) => message.type === "error" && message.id === last, { timeout: 30_000 });
    const refused = raw.received.filter((message) => message.type === "error");
    expect(new Set(refused.map((message) => message.type === "error" && message.code))).toEqual(new Set([ErrorCode.QUOTA_EXCEEDED]));
    const queued = 200 - refused.length;
    // 4 MiB of 60 KB values (each with its msgpack header and 64 bytes for its row): 69 in all, the leader's included.
    expect(queued + 1).toBe(Math.floor(QUOTA / (60_003 + 64)));

    // The leader is still the leader; a cancelled wait gives its bytes back.
    const leader = await raw.request({ op: "election.leader", name: "tenant-a/e" });
    expect(leader).toMatchObject({ type: "reply", result: { leader: { value: VALUE } } });
    const queuedIds = raw.received.flatMap((message) => (message.type === "error" || message.type === "reply" ? [message.id] : []));
    const waiting = [...Array(200).keys()].map((index) => last - 199 + index).find((id) => !queuedIds.includes(id));
    expect(await raw.request({ op: "cancel", target: waiting })).toMatchObject({ type: "reply", result: { cancelled: true } });
    expect(await raw.request({ op: "election.campaign", name: "tenant-a/e2", lease, value: VALUE })).toMatchObject({ type: "reply", result: { elected: true } });
    expect(await raw.request({ op: "election.campaign", name: "tenant-a/e3", lease, value: VALUE })).toMatchObject({ type: "error", code: ErrorCode.QUOTA_EXCEEDED });

    // Another tenant campaigns with a value of its own.
    const other = await startClient(target.url, { auth: TOKENS.tenantB });
    const otherLease = await other.leases.grant(60_000);
    await expect(other.elections.campaign("tenant-b/e", otherLease.id, { value: VALUE })).resolves.toMatchObject({ leading: true });

    await bystander.expectUnharmed(control);
    expect(target.rssBytes() - rssBefore, "server memory growth").toBeLessThan(48 * 1024 * 1024);
  });
});
