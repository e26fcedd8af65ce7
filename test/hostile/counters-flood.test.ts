/**
 * Attack: counters flood. Counters had no quota: one client made 307,588 of them in 5 s (+200 MB).
 * Now the non-zero counters a principal made count against it, and one back at 0 gives its place back.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "@leasehold/protocol";
import { startClient } from "../support/fixtures.js";
import { Bystander, measureControl, startTarget } from "./support.js";
import { handshake, tokenFile, TOKENS } from "./tenants.js";

const CAP = 2_000;

describe("hostile: counters flood", () => {
  it("a principal creates counters up to its cap, then LIMIT_EXCEEDED; its counters go on changing, others create theirs", async () => {
    // The cap from the CLI flag here (the other quota attacks give theirs in the token file).
    const target = await startTarget(["--memory", "--auth-file", tokenFile(), "--max-counters-per-principal", String(CAP)]);
    const control = await measureControl(target.url, { auth: TOKENS.tenantB });
    const bystander = await Bystander.start(target.url, { auth: TOKENS.tenantB });
    const rssBefore = target.rssBytes();
    const { raw } = await handshake(target.url, TOKENS.tenantA);
    // Pipelined, as fast as the socket takes them: twice the cap.
    let last = 0;
    for (let index = 0; index < 2 * CAP; index++) last = raw.fire({ op: "counter.add", name: `tenant-a/c/${index}`, delta: 1 });
    await raw.next((message) => (message.type === "reply" || message.type === "error") && message.id === last, { timeout: 30_000 });
    const answers = raw.received.filter((message) => message.type === "reply" || message.type === "error");
    expect(answers.filter((message) => message.type === "reply")).toHaveLength(CAP);
    const refused = answers.filter((message) => message.type === "error");
    expect(refused).toHaveLength(CAP);
    expect(new Set(refused.map((message) => message.type === "error" && message.code))).toEqual(new Set([ErrorCode.LIMIT_EXCEEDED]));

    // Its existing counters go on; another tenant creates its own.
    expect(await raw.request({ op: "counter.add", name: "tenant-a/c/0", delta: 5 })).toMatchObject({ type: "reply", result: { value: 6 } });
    const other = await startClient(target.url, { auth: TOKENS.tenantB });
    expect(await other.counters.increment("tenant-b/mine")).toBe(1);
    // A counter set back to 0 is forgotten and gives its place back.
    expect(await raw.request({ op: "counter.set", name: "tenant-a/c/1", value: 0 })).toMatchObject({ type: "reply" });
    expect(await raw.request({ op: "counter.add", name: "tenant-a/new", delta: 1 })).toMatchObject({ type: "reply", result: { value: 1 } });
    expect(await raw.request({ op: "counter.add", name: "tenant-a/newer", delta: 1 })).toMatchObject({ type: "error", code: ErrorCode.LIMIT_EXCEEDED });

    await bystander.expectUnharmed(control);
    expect(target.rssBytes() - rssBefore, "server memory growth").toBeLessThan(48 * 1024 * 1024);
  });
});
