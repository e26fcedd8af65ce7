import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { defer, type ChildScript } from "./fixtures.js";
import { Raw } from "./raw.js";
import { STATIC_TOKENS, TENANT_RIGHTS } from "./security.js";

// Reloading secrets (SIGHUP) of a server process or of a cluster's gateways: test/security/reload.test.ts, test/cluster/e2e-reload.test.ts.

export type TokenEntry = (typeof STATIC_TOKENS)[number];

/** A third tenant, for a token file that gains one. */
export const TENANT_C = { name: "tenant-c", token: "tenant-c-0123456789abcdef", permissions: [{ prefix: "tenant-c/", allow: TENANT_RIGHTS }] } satisfies TokenEntry;
/** The static token named `name`. */
export const entry = (name: string): TokenEntry => STATIC_TOKENS.find((token) => token.name === name)!;

/** A directory for the secrets' files, removed after the test. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-reload-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a token file as `--auth-file` reads it. */
export function writeTokens(file: string, tokens: TokenEntry[]): void {
  writeFileSync(file, JSON.stringify({ tokens }));
}

/** Sends SIGHUP and waits for the reload's log line (the n-th since start): info when it worked, error when it did not. */
export async function sighup(child: ChildScript, nth: number): Promise<Record<string, unknown>> {
  child.process.kill("SIGHUP");
  let seen = 0;
  return child.next((line) => line.signal === "SIGHUP" && ++seen === nth, 10_000);
}

/** A hello with `auth` on a new connection: true if welcomed; false if refused with UNAUTHENTICATED and 4003. */
export async function admitted(url: string, auth: string): Promise<boolean> {
  const raw = await Raw.open(url);
  raw.send({ op: "hello", version: 1, auth });
  const answer = await raw.next((message) => message.type === "welcome" || message.type === "error");
  if (answer.type === "welcome") return true;
  expect(answer).toMatchObject({ type: "error", code: ErrorCode.UNAUTHENTICATED });
  expect((await raw.closed()).code).toBe(CloseCode.UNAUTHENTICATED);
  return false;
}
