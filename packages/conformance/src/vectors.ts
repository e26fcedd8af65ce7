import type { WireValue } from "./wire/codec.js";

/**
 * Test vectors (conformance/vectors/*.json) hold each message as JSON with the types JSON cannot tell
 * apart tagged: `{"$bin": "hex"}` for a msgpack bin, `{"$float": n}` for a float (an untagged number
 * is an integer). These convert between that form and decoded msgpack values.
 */
export type Tagged = null | boolean | number | string | Tagged[] | { [key: string]: Tagged };

/** The vector of one valid message: decode `msgpack` to `value`; our encoder writes exactly `msgpack`. */
export interface MessageVector {
  readonly name: string;
  readonly direction: "client" | "server";
  readonly section: string;
  readonly value: Tagged;
  readonly msgpack: string;
  /** Other encodings a decoder must accept for the same value (another integer width, key order). */
  readonly alsoValid?: readonly string[];
  /** "hand": bytes written from the spec by hand, "encoder": bytes from the kit's @msgpack/msgpack. */
  readonly origin: "hand" | "encoder";
}

/** A frame the server must refuse, and how. */
export interface InvalidFrameVector {
  readonly name: string;
  readonly section: string;
  /** Binary frame bytes; absent for a text frame (`text`). */
  readonly msgpack?: string;
  readonly text?: string;
  /** Sent after a successful hello (otherwise as the first frame). */
  readonly afterHello: boolean;
  readonly error: string;
  /** The id the error carries, or null for an error without id. */
  readonly errorId: number | null;
  /** The close code that follows, or null when the connection goes on. */
  readonly close: number | null;
}

export function toTagged(value: WireValue): Tagged {
  if (value instanceof Uint8Array) return { $bin: Buffer.from(value).toString("hex") };
  if (typeof value === "number") return Number.isInteger(value) ? value : { $float: value };
  if (Array.isArray(value)) return value.map(toTagged);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toTagged(v)]));
  return value;
}

/** The decoded value a vector stands for. A `$float` holding an integer decodes as that number. */
export function fromTagged(tagged: Tagged): WireValue {
  if (Array.isArray(tagged)) return tagged.map(fromTagged);
  if (tagged !== null && typeof tagged === "object") {
    const keys = Object.keys(tagged);
    if (keys.length === 1 && keys[0] === "$bin" && typeof tagged.$bin === "string") return new Uint8Array(Buffer.from(tagged.$bin, "hex"));
    if (keys.length === 1 && keys[0] === "$float" && typeof tagged.$float === "number") return tagged.$float;
    return Object.fromEntries(Object.entries(tagged).map(([k, v]) => [k, fromTagged(v)]));
  }
  return tagged;
}
