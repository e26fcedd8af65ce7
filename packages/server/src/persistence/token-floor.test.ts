import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeClientMessage, encode } from "@leasehold/protocol";
import { SqliteStorage } from "./sqlite-storage.js";
import { emptyBatch, emptyState, type StoredState } from "./storage.js";
import { restoreInto, tokenFloor } from "./token-floor.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-floor-"));
  dirs.push(dir);
  return dir;
}

/** A state with one session, lease, hold and key per name, at `revision`. */
function stateWith(names: string[], revision: number, nextLeaseId: number): StoredState {
  const state = { ...emptyState(), revision, nextLeaseId };
  for (const [index, name] of names.entries()) {
    const lease = index + 1;
    state.sessions.push({ id: `s-${name}`, secret: "secret", createdAt: 1, agent: undefined, lastRequest: 1, principal: undefined, account: undefined });
    state.leases.push({ id: lease, session: `s-${name}`, ttl: 60_000, keepAlive: true });
    state.holds.push({ table: "lock", name, limit: undefined, token: lease * 10, lease, mode: "exclusive", request: 1, value: undefined, lockDelay: 0, delayUntil: undefined });
    state.keys.push({ key: name, value: name, revision: lease * 10 + 1, lease: undefined, owner: undefined });
  }
  return state;
}

describe("tokenFloor", () => {
  it("is the largest of the backup's revision, the target's and the wall-clock time in microseconds", () => {
    const now = Date.UTC(2026, 10, 28);
    expect(tokenFloor(5, 7, now)).toBe(now * 1_000);
    // A clock set far back: the revisions still bound it.
    expect(tokenFloor(5, 7, 0)).toBe(7);
    expect(tokenFloor(9, 7, 0)).toBe(9);
    // JavaScript's safe integers hold microseconds until 2255.
    expect(Number.isSafeInteger(tokenFloor(0, 0, Date.UTC(2255, 0, 1)))).toBe(true);
  });
});

describe("a token above the floor on the wire", () => {
  it("is accepted as the uint64 another language's msgpack library writes, and read back exactly", () => {
    const token = tokenFloor(0, 0, Date.UTC(2026, 10, 28)) + 1;
    const uint64 = Buffer.alloc(9);
    uint64[0] = 0xcf;
    uint64.writeBigUInt64BE(BigInt(token), 1);
    const template = Buffer.from(encode({ op: "kv.put", id: 1, key: "k", value: 1, fence: { lock: "l", token: 7 } }));
    const at = template.lastIndexOf(0x07);
    const frame = Buffer.concat([template.subarray(0, at), uint64, template.subarray(at + 1)]);
    expect(decodeClientMessage(frame)).toEqual({ ok: true, message: { op: "kv.put", id: 1, key: "k", value: 1, fence: { lock: "l", token } } });
  });
});

describe("restoreInto", () => {
  it("replaces every row in one batch, and the store goes on from the floor, also after a reopen", async () => {
    const dir = tempDir();
    const target = new SqliteStorage(dir);
    const current = stateWith(["newer-a", "newer-b"], 500, 3);
    target.write({
      ...emptyBatch(),
      revision: current.revision,
      nextLeaseId: current.nextLeaseId,
      sessions: new Map(current.sessions.map((row) => [row.id, row])),
      leases: new Map(current.leases.map((row) => [row.id, row])),
      holds: new Map(current.holds.map((row) => [`${row.table}:${row.token}`, row])),
      keys: new Map(current.keys.map((row) => [row.key, row])),
    });
    const backup = stateWith(["older"], 100, 2);
    // The clock of the restoring machine is far behind: the target's own revision still bounds the floor.
    const floor = await restoreInto(target, target.load(), backup, 0);
    expect(floor).toBe(500);
    expect(target.load()).toEqual({ ...backup, revision: 500, nextLeaseId: 3 });
    target.close();
    const reopened = new SqliteStorage(dir);
    expect(reopened.load().revision).toBe(500);
    reopened.close();
  });
});
