import { decode, encode } from "@msgpack/msgpack";

/**
 * Frames as the kit sees them: plain msgpack maps with string keys (PROTOCOL.md section 1), written
 * with the kit's own codec so that a bug in our protocol package cannot certify itself.
 */
export type Frame = Record<string, unknown>;

/** The limits a scripted server announces: the spec's defaults (PROTOCOL.md section 14). */
export const ANNOUNCED_LIMITS = {
  maxFrameBytes: 65_536,
  minTtlMs: 1_000,
  maxTtlMs: 86_400_000,
  maxWaitMs: 86_400_000,
  maxSessions: 100_000,
  maxLeasesPerSession: 1_000,
  maxWaitersPerLock: 100_000,
  maxLocksPerSession: 10_000,
  maxWatchesPerSession: 100,
} as const;

export function encodeFrame(frame: Frame): Uint8Array {
  return encode(frame);
}

/** Decodes a client frame, or says in words why it is not one (a text frame, not msgpack, not a map). */
export function decodeFrame(data: Buffer, isBinary: boolean): Frame | string {
  if (!isBinary) return "a text frame (every frame must be binary msgpack)";
  let value: unknown;
  try {
    value = decode(data);
  } catch (error) {
    return `a binary frame that is not msgpack (${error instanceof Error ? error.message : String(error)})`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    return `a msgpack value that is not a map (${describe(value)})`;
  }
  return value as Frame;
}

/** A frame in one line for failure messages. */
export function describe(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item instanceof Uint8Array ? `<${item.length} bytes>` : item)) ?? String(value);
}
