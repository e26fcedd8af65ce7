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

/** The map of a decoded server frame, or an error naming what came instead. */
export function decodeMap(bytes: Uint8Array): WireMap {
  const value = decode(bytes);
  if (!isMap(value)) throw new Error(`the server sent a frame that is not a msgpack map: ${describe(value)}`);
  return value;
}

/**
 * Decodes a frame the client under test sent, or says in words why it is not one (a text frame, not
 * msgpack, not a map): client mode reports that as the client's fault rather than throwing.
 */
export function decodeClientFrame(data: Uint8Array, isBinary: boolean): WireMap | string {
  if (!isBinary) return "a text frame (every frame must be binary msgpack)";
  let value: WireValue;
  try {
    value = decode(data);
  } catch (error) {
    return `a binary frame that is not msgpack (${error instanceof Error ? error.message : String(error)})`;
  }
  return isMap(value) ? value : `a msgpack value that is not a map (${describe(value)})`;
}

/** A value in one line for failure messages (binary shown by its length). */
export function describe(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item instanceof Uint8Array ? `<${item.length} bytes>` : item)) ?? String(value);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

function isMap(value: WireValue): value is WireMap {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array);
}
