import { Decoder, Encoder } from "@msgpack/msgpack";

/**
 * The kit's own msgpack codec: plain @msgpack/msgpack, deliberately not the codec of @leasehold/protocol,
 * so that a bug there cannot certify itself. Decoding turns integers beyond 32 bits into numbers (a
 * server may send them as float64 too, PROTOCOL.md section 1) and refuses extension types, as a
 * conforming client must.
 */
export type WireValue = null | boolean | number | string | Uint8Array | WireValue[] | { [key: string]: WireValue };
export type WireMap = { [key: string]: WireValue };

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder({ useBigInt64: false });

export function encode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

export function decode(bytes: Uint8Array): WireValue {
  return decoder.decode(bytes) as WireValue;
}

/** The map of a decoded frame, or an error naming what came instead. */
export function decodeMap(bytes: Uint8Array): WireMap {
  const value = decode(bytes);
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
    throw new Error(`the server sent a frame that is not a msgpack map: ${JSON.stringify(value)}`);
  }
  return value;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}
