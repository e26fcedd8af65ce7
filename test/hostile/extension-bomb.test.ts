import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from "@leasehold/protocol";
import { defer, startClient } from "../support/fixtures.js";
import { referenceBomb } from "../support/hostile-frames.js";
import { Raw } from "../support/raw.js";
import { STATIC_TOKENS, TOKENS } from "../support/security.js";
import { Bystander, measureControl, startTarget, watchMemory } from "./support.js";

/**
 * Issue 11, finding 1: msgpackr's shared references let a few hundred bytes describe 2^40 leaves. Sent
 * as the first frame (no credential needed), the schema and depth checks walked every path: the event
 * loop blocked, memory grew some 100 MB/s and the server died out of memory. With a junk byte after it,
 * msgpackr's own error text stringified the whole value. At depth 20 inside a `kv.put`, 307 bytes
 * passed after a 1.4 s stall and were stored as a 3.2 MB value. The wire is plain msgpack: each is
 * refused before any value is built, with BAD_REQUEST and close 4000.
 */
const ROUNDS = 5;

describe("an extension-type bomb", () => {
  it("is refused with close 4000 before hello, with a junk byte, and inside kv.put; memory stays flat and a bystander is served", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-bomb-"));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const authFile = join(dir, "tokens.json");
    writeFileSync(authFile, JSON.stringify({ tokens: STATIC_TOKENS }));
    const target = await startTarget(["--memory", "--auth-file", authFile]);
    const control = await measureControl(target.url, { auth: TOKENS.admin });
    const bystander = await Bystander.start(target.url, { auth: TOKENS.admin });
    const memory = watchMemory(target);

    const put = (value: unknown) => ({ op: "kv.put", id: 1, key: "tenant-a/bomb", value });
    const firstFrame = referenceBomb(40, put);
    expect(firstFrame.length).toBeLessThan(600);
    const attacks: { label: string; frame: Uint8Array; auth?: string }[] = [
      { label: "the depth-40 bomb in a kv.put as the first frame", frame: firstFrame },
      { label: "the same with one junk byte", frame: Uint8Array.from([...firstFrame, 0x00]) },
      { label: "the depth-40 bomb as hello's agent", frame: referenceBomb(40, (agent) => ({ op: "hello", version: PROTOCOL_VERSION, agent })) },
      { label: "the depth-20 bomb in a kv.put after hello", frame: referenceBomb(20, put), auth: TOKENS.tenantA },
    ];
    // Several rounds, so that the bystander's requests overlap the attack.
    for (let round = 0; round < ROUNDS; round++) {
      for (const { label, frame, auth } of attacks) {
        const attacker = await Raw.open(target.url);
        if (auth) await attacker.hello(auth);
        const sentAt = performance.now();
        attacker.socket.send(frame);
        const close = await attacker.closed();
        expect(performance.now() - sentAt, `${label}: time to the close`).toBeLessThan(2_000);
        expect(close.code, label).toBe(CloseCode.PROTOCOL_ERROR);
        expect(attacker.errorsBeforeClose(), label).toEqual([expect.objectContaining({ code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/extension type/) })]);
        expect(attacker.errorsBeforeClose()[0]!.message.length, `${label}: the error text`).toBeLessThan(300);
        expect(target.alive(), label).toBe(true);
      }
    }

    const growth = memory.stop();
    expect(target.alive()).toBe(true);
    expect(growth, "server memory growth during the attacks").toBeLessThan(50 * 1024 * 1024);
    await bystander.expectUnharmed(control);
    const tenant = await startClient(target.url, { auth: TOKENS.tenantA });
    expect(await tenant.get("tenant-a/bomb")).toBeNull();
    expect(await tenant.list("tenant-a/")).toEqual([]);
  });
});
