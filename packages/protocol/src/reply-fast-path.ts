import type { ServerMessage } from "./server-messages.js";

/**
 * The client's counterpart of `acceptCommonRequest` (request-fast-path.ts): a `reply` envelope that
 * is exactly what the `Reply` schema accepts (`type`, a positive safe integer `id`, a plain-object
 * `result`, no other key) is taken as it is, without the `ServerMessage` union's parse and its copy
 * of the result. Everything else goes through the schema (codec.ts). The result itself is still
 * checked against its op's schema (`Results`) by the caller, which knows the op.
 *
 * Measured (client CPU profile, uncontended lock pairs, 16 clients): zod was 11 % of the client's
 * busy CPU, about half of it the envelope's parse. `reply-fast-path.test.ts` holds it to the schema.
 */
export function acceptReply(value: unknown): ServerMessage | undefined {
  if (!isPlainObject(value)) return undefined;
  let fields = 0;
  for (const key in value) {
    const field = value[key];
    if (key === "type") {
      if (field !== "reply") return undefined;
    } else if (key === "id") {
      if (!Number.isSafeInteger(field) || (field as number) < 1) return undefined;
    } else if (key !== "result" || !isPlainObject(field)) return undefined;
    fields++;
  }
  return fields === 3 ? (value as ServerMessage) : undefined;
}

/** A map as msgpackr decodes one (with `mapsAsObjects`); the fast paths take nothing else. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}
