/**
 * Attack: fill the data quota. On main, one tenant's puts filled `--max-data-bytes`, the server exited
 * 1 and closed everyone with 1011. Now the server counts logical bytes itself and refuses a write that
 * would grow the data past a quota (the principal's, then the server's) with QUOTA_EXCEEDED, before
 * the change is applied; reads, deletes and everyone else go on, and the server never exits for it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "@leasehold/protocol";
import { LimitExceededError } from "@leasehold/client";
import { defer, startClient } from "../support/fixtures.js";
import { Bystander, measureControl, startTarget, watchMemory } from "./support.js";
import { handshake, tokenFile, TOKENS } from "./tenants.js";

const MIB = 1024 * 1024;
const SERVER_QUOTA = 2 * MIB;
const ATTACKER_QUOTA = 1.5 * MIB;
const VALUE = "x".repeat(16_000);

describe("hostile: filling the data quota", () => {
  it("one tenant's puts stop at its quota, another's at the server's: QUOTA_EXCEEDED, no exit, reads and deletes go on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-quota-"));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const target = await startTarget(["--data", dir, "--max-data-bytes", String(SERVER_QUOTA), "--auth-file", tokenFile({ maxBytes: ATTACKER_QUOTA })]);
    const control = await measureControl(target.url, { auth: TOKENS.tenantB });
    const bystander = await Bystander.start(target.url, { auth: TOKENS.tenantB });
    const memory = watchMemory(target);

    // The attacker: pipelined puts of 16 KB, well past the server's quota.
    const { raw } = await handshake(target.url, TOKENS.tenantA);
    let last = 0;
    for (let index = 0; index < 250; index++) last = raw.fire({ op: "kv.put", key: `tenant-a/k/${index}`, value: VALUE });
    await raw.next((message) => (message.type === "reply" || message.type === "error") && message.id === last, { timeout: 30_000 });
    const stored = raw.received.filter((message) => message.type === "reply").length;
    const refused = raw.received.filter((message) => message.type === "error");
    expect(new Set(refused.map((message) => message.type === "error" && message.code))).toEqual(new Set([ErrorCode.QUOTA_EXCEEDED]));
    // Each put counts its key, its msgpack value (16,003 bytes) and 64 for the row: the attacker stored all that fit in its quota.
    expect(stored * (VALUE.length + 3 + 64)).toBeLessThanOrEqual(ATTACKER_QUOTA);
    expect((stored + 1) * (VALUE.length + 3 + 64 + "tenant-a/k/100".length)).toBeGreaterThan(ATTACKER_QUOTA);
    expect(target.alive()).toBe(true);

    // Another tenant writes within its own quota, until the server's is reached.
    const other = await startClient(target.url, { auth: TOKENS.tenantB });
    let written = 0;
    let error: unknown;
    for (; written < 100 && error === undefined; written++) await other.put(`tenant-b/k/${written}`, VALUE).catch((caught: unknown) => (error = caught));
    expect(written - 1).toBeGreaterThan(20);
    expect(error).toBeInstanceOf(LimitExceededError);
    expect(error).toMatchObject({ code: ErrorCode.QUOTA_EXCEEDED, message: expect.stringContaining("--max-data-bytes") });

    // Reads, overwrites that do not grow, and deletes go on; a delete makes room.
    expect((await other.get("tenant-b/k/0"))?.value).toBe(VALUE);
    await other.put("tenant-b/k/0", "small");
    expect(await raw.request({ op: "kv.delete", key: "tenant-a/k/0" })).toMatchObject({ type: "reply", result: { deleted: true } });
    await other.put(`tenant-b/k/${written}`, VALUE);

    // Measured: +14 MB at the peak (SQLite's page cache and the frames in flight); the data is on disk.
    expect(memory.stop(), "server memory growth at its peak").toBeLessThan(48 * 1024 * 1024);
    await bystander.expectUnharmed(control);
    expect(target.alive()).toBe(true);
  });
});
