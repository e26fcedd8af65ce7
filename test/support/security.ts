import { createRequire } from "node:module";
import { SignJWT, type CryptoKey, type KeyObject } from "jose";
import { vi } from "vitest";
import { PROTOCOL_VERSION, decodeServerMessage, encode, type ServerMessage, type Welcome } from "@leasehold/protocol";
import type { ServerOptions } from "@leasehold/server";
// `ws` is a dependency of the server package, not of the workspace root: load it from there.
import type WsWebSocket from "../../packages/server/node_modules/@types/ws/index.js";
import { defer } from "./fixtures.js";

export const WebSocket = createRequire(new URL("../../packages/server/package.json", import.meta.url))("ws") as typeof WsWebSocket;
export type RawWebSocket = WsWebSocket;

/** Every right a tenant can have over its own names; admin is separate. */
export const TENANT_RIGHTS = ["lock", "election", "read", "write", "counter", "watch"];

/** Tokens of the security tests: two tenants, an operator with every right, and a read-only auditor. */
export const TOKENS = {
  tenantA: "tenant-a-0123456789abcdef",
  tenantB: "tenant-b-0123456789abcdef",
  admin: "admin-0123456789abcdef-ops",
  auditor: "auditor-0123456789abcdef",
} as const;

export const STATIC_TOKENS: NonNullable<NonNullable<ServerOptions["auth"]>["tokens"]> = [
  { name: "tenant-a", token: TOKENS.tenantA, permissions: [{ prefix: "tenant-a/", allow: TENANT_RIGHTS }] },
  { name: "tenant-b", token: TOKENS.tenantB, permissions: [{ prefix: "tenant-b/", allow: TENANT_RIGHTS }] },
  { name: "ops", token: TOKENS.admin, permissions: [{ prefix: "", allow: ["admin", ...TENANT_RIGHTS] }] },
  { name: "auditor", token: TOKENS.auditor, permissions: [{ prefix: "", allow: ["read"] }] },
];

/** A ticket as an application's backend would mint it for a browser tab. */
export async function mintJwt(
  key: Uint8Array | CryptoKey | KeyObject,
  alg: "HS256" | "RS256" | "ES256",
  claims: { sub?: string; permissions?: unknown; expiresIn?: string | number; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({ leasehold: claims.permissions ?? [{ prefix: "tenant-a/", allow: TENANT_RIGHTS }] })
    .setProtectedHeader({ alg })
    .setSubject(claims.sub ?? "tab-1")
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? "5m");
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(key);
}

/**
 * A WebSocket speaking the protocol by hand, for what the client library would never do: stop
 * reading, flood, skip the handshake. Every frame the server sends must decode.
 */
export class Raw {
  readonly received: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Frames that failed `decodeServerMessage` (must stay empty). */
  readonly unreadable: string[] = [];
  lastId = 0;

  private constructor(readonly socket: WsWebSocket) {
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      const decoded = isBinary ? decodeServerMessage(new Uint8Array(data)) : undefined;
      if (!decoded?.ok) this.unreadable.push(decoded ? decoded.error : "text frame");
      else this.received.push(decoded.message);
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => socket.on("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<Raw> {
    const raw = new Raw(new WebSocket(url, undefined, options));
    defer(() => raw.socket.terminate());
    await new Promise<void>((resolve, reject) => {
      raw.socket.once("open", () => resolve());
      raw.socket.once("error", reject);
    });
    return raw;
  }

  send(message: unknown): void {
    this.socket.send(encode(message));
  }

  async hello(auth?: string): Promise<Welcome> {
    this.send({ op: "hello", version: PROTOCOL_VERSION, agent: "raw", auth });
    const welcome = await this.next((message) => message.type === "welcome");
    return welcome as Welcome;
  }

  /** Sends a request with the next id, without waiting. Returns the id. */
  fire(fields: Record<string, unknown>): number {
    const id = ++this.lastId;
    this.send({ ...fields, id });
    return id;
  }

  /** Sends a request and resolves with its reply or error. */
  request(fields: Record<string, unknown>): Promise<ServerMessage> {
    const id = this.fire(fields);
    return this.next((message) => (message.type === "reply" || message.type === "error") && message.id === id);
  }

  next(match: (message: ServerMessage) => boolean, timeout = 10_000): Promise<ServerMessage> {
    return vi.waitFor(
      () => {
        const found = this.received.find(match);
        if (!found) throw new Error("not yet");
        return found;
      },
      { timeout, interval: 5 },
    );
  }
}
