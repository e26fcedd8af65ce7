import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { LeaseholdClient } from "@leasehold/client";
import { runCli } from "../support/cli-process.js";
import { dataDir, startClient, startServer } from "../support/fixtures.js";
import { issueMore, nextIssued } from "../support/issued.js";
import { startServerProcess } from "../support/server-process.js";

/** The header line of a backup file (persistence/backup-file.ts). */
function headerOf(file: string): { format: number; kind: string; maxToken: number; maxRevision: number } {
  const text = readFileSync(file).toString("latin1");
  return JSON.parse(text.slice("leasehold-backup ".length, text.indexOf("\n"))) as ReturnType<typeof headerOf>;
}

describe("leasehold backup and restore of a data directory", () => {
  it("backs up a live server; restored into a new directory, a server has its locks, keys and counters and hands out tokens above every one before, also those granted after the backup", async () => {
    const source = join(dataDir(), "data");
    const first = await startServerProcess(["--port", "0", "--data", source]);
    const client = await startClient(first.url);
    const lease = await client.leases.grant(60_000);
    const held = await client.locks.acquire("report", lease.id);
    await client.put("config", { mode: "fast" });
    await client.counters.increment("visits", 3);

    const file = join(dataDir(), "leasehold.backup");
    const backup = await runCli(["backup", "--data-dir", source, "--out", file]);
    expect(backup.stderr).toBe("");
    expect(backup.status).toBe(0);
    expect(backup.stdout).toContain("1 held");
    expect(backup.stdout).toContain("1 key, 1 counter");
    const header = headerOf(file);
    expect(header).toMatchObject({ format: 1, kind: "sqlite", maxToken: held.token });

    // Handed out after the backup, so not in it: the restored server cannot know them.
    const issuedAfter = await issueMore(client, "later");
    expect(issuedAfter).toBeGreaterThan(header.maxRevision);

    const target = join(dataDir(), "restored");
    const restore = await runCli(["restore", file, "--data-dir", target]);
    expect(restore.stderr).toBe("");
    expect(restore.status).toBe(0);
    const second = await startServerProcess(["--port", "0", "--data", target]);
    const checker = await startClient(second.url);
    const state = await checker.admin.state();
    expect(state.locks.find((lock) => lock.name === "report")?.holders.map((hold) => hold.token)).toEqual([held.token]);
    expect(state.locks.find((lock) => lock.name === "later")).toBeUndefined();
    expect(await checker.get("config")).toMatchObject({ value: { mode: "fast" } });
    expect(await checker.counters.get("visits")).toBe(3);

    const next = await nextIssued(checker);
    expect(next.token).toBeGreaterThan(issuedAfter);
    expect(next.revision).toBeGreaterThan(next.token);
    expect(Number.isSafeInteger(next.revision)).toBe(true);
  });

  it("refuses a directory a server runs on, and one holding data without --force; with --force an older backup replaces it and tokens still grow", async () => {
    const dir = join(dataDir(), "data");
    const server = await startServerProcess(["--port", "0", "--data", dir]);
    const client = await startClient(server.url);
    await issueMore(client, "before");
    const file = join(dataDir(), "older.backup");
    expect((await runCli(["backup", "--data-dir", dir, "--out", file])).status).toBe(0);
    const issuedAfter = await issueMore(client, "after");

    const busy = await runCli(["restore", file, "--data-dir", dir]);
    expect(busy.status).toBe(73);
    expect(busy.stderr).toMatch(/locked by another process.*stop the server on it before restoring/);

    await client.close();
    server.child.process.kill("SIGTERM");
    await new Promise((resolve) => server.child.process.once("exit", resolve));
    const refused = await runCli(["restore", file, "--data-dir", dir]);
    expect(refused.status).toBe(73);
    expect(refused.stderr).toMatch(/already holds data \(.*2 keys.*\); restoring replaces all of it: pass --force/);

    const forced = await runCli(["restore", file, "--data-dir", dir, "--force"]);
    expect(forced.stderr).toBe("");
    expect(forced.status).toBe(0);
    const restarted = await startServerProcess(["--port", "0", "--data", dir]);
    const checker = await startClient(restarted.url);
    expect(await checker.get("after/key")).toBeNull();
    expect(await checker.get("before/key")).toMatchObject({ value: 1 });
    const next = await nextIssued(checker);
    expect(next.token).toBeGreaterThan(issuedAfter);
  });

  it("refuses a truncated, damaged, foreign or newer-format file with exit 65 and writes nothing", async () => {
    const source = join(dataDir(), "data");
    const server = await startServer({ dataDir: source });
    const client = await startClient(server.url);
    await issueMore(client, "x");
    const dir = dataDir();
    const good = join(dir, "good.backup");
    expect((await runCli(["backup", "--data-dir", source, "--out", good])).status).toBe(0);
    const bytes = readFileSync(good);
    const headerEnd = bytes.indexOf(0x0a);
    const header = JSON.parse(bytes.subarray("leasehold-backup ".length, headerEnd).toString("utf8")) as Record<string, unknown>;
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3] = (flipped[flipped.length - 3] as number) ^ 0xff;
    const newer = Buffer.concat([Buffer.from(`leasehold-backup ${JSON.stringify({ ...header, format: 2 })}\n`), bytes.subarray(headerEnd + 1)]);
    const files = {
      truncated: [bytes.subarray(0, bytes.length - 10), /truncated: its body has \d+ bytes, its header says \d+/],
      damaged: [flipped, /damaged: its body does not match the checksum/],
      foreign: [Buffer.from("SQLite format 3\0"), /is not a leasehold backup/],
      newer: [newer, /backup format 2, written by a newer leasehold; this one reads format 1/],
    } as const;
    for (const [name, [content, message]] of Object.entries(files)) {
      const file = join(dir, `${name}.backup`);
      writeFileSync(file, content);
      const target = join(dir, `target-${name}`);
      const result = await runCli(["restore", file, "--data-dir", target]);
      expect(result.status, name).toBe(65);
      expect(result.stderr, name).toMatch(message);
      expect(result.stderr, name).toContain("nothing was restored");
      expect(existsSync(target), name).toBe(false);
    }
    const missing = await runCli(["backup", "--data-dir", join(dir, "none"), "--out", join(dir, "none.backup")]);
    expect(missing.status).toBe(66);
    expect(missing.stderr).toMatch(/there is no database at .*: check --data-dir/);
  });
});
