/**
 * What the quota attacks share: a token file with an attacking tenant, a second tenant (the
 * bystander's), and an operator with the admin right over every name, each token's own limits given
 * the way an operator would (the `limits` of an entry); and a raw handshake that reports a refusal.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROTOCOL_VERSION, type ServerMessage } from "@leasehold/protocol";
import { defer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { TENANT_RIGHTS, TOKENS } from "../support/security.js";

export { TOKENS };

/** Writes the token file (removed after the test) and returns its path. `attackerLimits` go on tenant-a's entry. */
export function tokenFile(attackerLimits: Record<string, number> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-tokens-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "tokens.json");
  // Both tenants may also read the bystander's counter ("bystander"), which the Bystander polls.
  const tenant = (name: string) => [
    { prefix: `${name}/`, allow: TENANT_RIGHTS },
    { prefix: "bystander", allow: ["counter"] },
  ];
  const tokens = [
    { name: "tenant-a", token: TOKENS.tenantA, permissions: tenant("tenant-a"), limits: attackerLimits },
    { name: "tenant-b", token: TOKENS.tenantB, permissions: tenant("tenant-b") },
    { name: "ops", token: TOKENS.admin, permissions: [{ prefix: "", allow: ["admin", ...TENANT_RIGHTS] }] },
  ];
  writeFileSync(path, JSON.stringify({ tokens }));
  return path;
}

/** Opens a raw socket and says hello: the welcome, or the error and close of a refusal. */
export async function handshake(url: string, auth: string): Promise<{ raw: Raw; answer: ServerMessage }> {
  const raw = await Raw.open(url);
  raw.send({ op: "hello", version: PROTOCOL_VERSION, agent: "raw", auth });
  const answer = await raw.next((message) => message.type === "welcome" || message.type === "error");
  return { raw, answer };
}
