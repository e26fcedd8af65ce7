import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * How one gateway proves itself to another: a follower relaying a client's connection to the leader
 * sends the cluster secret in `GATEWAY_SECRET_HEADER` on the upstream upgrade, and only then may it
 * name the client's real address (`FORWARDED_FOR_HEADER`, `FORWARDED_ADDRESS_HEADER`), which the
 * leader then uses for per-address limits and anonymous accounts as if the client had connected to
 * it. Without the proof a forwarded address would let any client pick the address it is counted as.
 */
export const GATEWAY_SECRET_HEADER = "x-leasehold-cluster-secret";
/** The client's IP address, as the follower saw it. */
export const FORWARDED_FOR_HEADER = "x-leasehold-forwarded-for";
/** The client's `ip:port`, for logs and the admin view. */
export const FORWARDED_ADDRESS_HEADER = "x-leasehold-forwarded-address";

/**
 * The peer an upgrade speaks for: the client behind a proven gateway, undefined for a direct
 * connection, or "refused" for a request that claims to be a gateway without the right secret.
 */
export function forwardedPeer(request: IncomingMessage, secret: Buffer | undefined): { ip: string; address: string } | "refused" | undefined {
  const proof = request.headers[GATEWAY_SECRET_HEADER];
  if (proof === undefined) return undefined;
  if (!secret || typeof proof !== "string" || !sameSecret(Buffer.from(proof, "utf8"), secret)) return "refused";
  const ip = request.headers[FORWARDED_FOR_HEADER];
  const address = request.headers[FORWARDED_ADDRESS_HEADER];
  if (typeof ip !== "string" || ip === "") return undefined;
  return { ip, address: typeof address === "string" && address !== "" ? address : ip };
}

/** Whether an upgrade proves the cluster secret (a gateway's multiplexed link must: cluster/leader-link.ts). */
export function provesGateway(request: IncomingMessage, secret: Buffer | undefined): boolean {
  const proof = request.headers[GATEWAY_SECRET_HEADER];
  return secret !== undefined && typeof proof === "string" && sameSecret(Buffer.from(proof, "utf8"), secret);
}

/** The secret as a header value: the file's contents without surrounding whitespace (a trailing newline, say). */
export function clusterSecretOf(contents: string): Buffer {
  const secret = contents.trim();
  if (secret.length < 16) throw new Error("the cluster secret file holds fewer than 16 characters: put a long random string in it (e.g. `openssl rand -hex 32`), the same on every gateway");
  if (!/^[\x21-\x7e]+$/.test(secret)) throw new Error("the cluster secret must be printable ASCII without spaces (it travels as an HTTP header): e.g. `openssl rand -hex 32`");
  return Buffer.from(secret, "utf8");
}

function sameSecret(given: Buffer, secret: Buffer): boolean {
  return given.length === secret.length && timingSafeEqual(given, secret);
}
