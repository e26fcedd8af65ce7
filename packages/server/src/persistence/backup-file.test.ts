import { describe, expect, it } from "vitest";
import { decodeBackup, encodeBackup } from "./backup-file.js";
import { emptyState, type HoldRow } from "./storage.js";

describe("the backup file", () => {
  it("keeps a running lock-delay (the lost hold's row with its wall-clock end), so that a restore resumes it", () => {
    const held: HoldRow = { table: "lock", name: "gpu", limit: undefined, token: 7, lease: 1, mode: "exclusive", request: 2, value: undefined, lockDelay: 500, delayUntil: undefined };
    const lost: HoldRow = { table: "lock", name: "db", limit: 3, token: 5, lease: 2, mode: "exclusive", request: 1, value: undefined, lockDelay: 2_000, delayUntil: 1_700_000_002_000 };
    const state = { ...emptyState(), revision: 8, holds: [lost, held] };
    const { bytes } = encodeBackup(state, "sqlite", "/var/lib/leasehold", new Date(0));
    expect(decodeBackup(bytes, "test.backup").state.holds).toEqual([lost, held]);
  });
});
