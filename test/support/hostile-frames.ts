import { createRequire } from "node:module";
// msgpackr is a dependency of the protocol package, not of the workspace root: load it from there.
import { encode } from "@leasehold/protocol";
import type * as Msgpackr from "../../packages/protocol/node_modules/msgpackr/index.js";

const { Packr } = createRequire(new URL("../../packages/protocol/package.json", import.meta.url))("msgpackr") as typeof Msgpackr;

/**
 * Frames that are not plain msgpack, for the tests that check they are refused (issue 11): msgpackr's
 * shared-reference bomb and every extension format.
 */

/**
 * msgpackr's shared-structure references (0x70 marks a shared value, 0x69 refers back to it) let
 * "level i = [level i-1, level i-1]" take a few bytes per level: 2^depth leaves in some 14 bytes per
 * level. At depth 40 (555 bytes as a hello) the schema and depth checks never finished and the server
 * ran out of memory; at depth 20 (307 bytes in a kv.put) a 3.2 MB value was stored. `wrap` places the
 * structure in a message.
 */
export function referenceBomb(depth: number, wrap: (value: unknown) => unknown = (value) => value): Uint8Array {
  let level: unknown = ["x"];
  for (let i = 0; i < depth; i++) level = [level, level];
  return new Packr({ structuredClone: true }).pack(wrap(level));
}

/** Type numbers to try in every extension format: msgpack's timestamp, msgpackr's own (bigint 0x42, references 0x69/0x70, records 0x72/0x73, typed arrays 0x74), and a few more. */
export const EXTENSION_TYPES = [-1, 0x42, 0x69, 0x70, 0x72, 0x73, 0x74, 0x00, 0x7f, -128] as const;

/** Every extension format with type number `type`: fixext 1/2/4/8/16 and ext 8/16/32, each with a body of its declared size. */
export function extensionFormats(type: number): Record<string, Uint8Array> {
  const t = type & 0xff;
  const body = (length: number) => new Array<number>(length).fill(0);
  return {
    "fixext 1": Uint8Array.from([0xd4, t, ...body(1)]),
    "fixext 2": Uint8Array.from([0xd5, t, ...body(2)]),
    "fixext 4": Uint8Array.from([0xd6, t, ...body(4)]),
    "fixext 8": Uint8Array.from([0xd7, t, ...body(8)]),
    "fixext 16": Uint8Array.from([0xd8, t, ...body(16)]),
    "ext 8": Uint8Array.from([0xc7, 3, t, ...body(3)]),
    "ext 16": Uint8Array.from([0xc8, 0, 3, t, ...body(3)]),
    "ext 32": Uint8Array.from([0xc9, 0, 0, 0, 3, t, ...body(3)]),
  };
}

/** A request frame whose `field` holds raw msgpack bytes (for values `encode` could not build, or only slowly). */
export function requestWithRaw(op: string, fields: Record<string, unknown>, field: string, raw: Uint8Array): Uint8Array {
  const placeholder = 0x7f; // a positive fixint that appears once, as the last byte
  const head = encode({ op, ...fields, [field]: placeholder });
  if (head[head.length - 1] !== placeholder) throw new Error("the placeholder must be the last value encoded");
  const frame = new Uint8Array(head.length - 1 + raw.length);
  frame.set(head.subarray(0, head.length - 1));
  frame.set(raw, head.length - 1);
  return frame;
}

/** An array32 of `n` fixints (zeros): n + 1 values in n + 5 bytes, the densest frame there is in values per byte. */
export function fixintArray(n: number): Uint8Array {
  const frame = new Uint8Array(n + 5);
  frame[0] = 0xdd;
  new DataView(frame.buffer).setUint32(1, n);
  return frame;
}
