import { ErrorCode } from "./codes.js";
import { BOUNDS } from "./limits.js";

/**
 * One structural pass over an untrusted frame before msgpackr decodes it. msgpackr interprets its own
 * extension types (records, shared references, typed arrays, ...) through a built-in table that no
 * option turns off; with references, a 555-byte frame described 2^40 leaves, and every later check
 * walked them all. The scan reads each byte at most once, builds no values and allocates nothing per
 * node, so that the work a frame can cause is bounded by its size before any value exists.
 *
 * Fatal (the stream can no longer be trusted): an extension type of any format or type number, the
 * byte 0xC1, a declared length beyond the end of the frame, truncation, bytes after the one value,
 * more than `BOUNDS.maxFrameNodes` values or containers nested deeper than `BOUNDS.maxFrameDepth`.
 *
 * Soft (the frame is readable; the request is refused with its id): the first value that would not
 * come back as it was sent, recorded without stopping the walk. An integer outside the safe range
 * (msgpackr would turn it into a float), a map key that is not a string (msgpackr would turn `1` into
 * `"1"`), the key `__proto__` (msgpackr renames it) and a string that is not valid UTF-8 (it would
 * come back with replacement characters). Duplicate keys need the decoded map to tell; the scan
 * counts map entries so that the caller can compare (see `codec.ts`).
 */
export type FrameScan =
  | { readable: false; error: string }
  | { readable: true; mapEntries: number; problem: FrameProblem | undefined };

/** A value that cannot be taken as sent, in a frame that is otherwise fine. */
export interface FrameProblem {
  code: ErrorCode;
  error: string;
}

/**
 * `maxNodes` is `BOUNDS.maxFrameNodes` for every caller; the unit tests pass a small one to check the
 * boundary in microseconds (a frame at the real bound is 16 MB and took 1.1 s of the unit tier's time;
 * the attack tier checks the real bound, test/hostile/frame-nodes.test.ts).
 */
export function scanFrame(bytes: Uint8Array, maxNodes: number = BOUNDS.maxFrameNodes): FrameScan {
  const end = bytes.length;
  let pos = 0;
  let depth = 0;
  let nodes = 0;
  let mapEntries = 0;
  let problem: FrameProblem | undefined;
  // Level 0 is the frame itself, which holds exactly one value.
  remaining[0] = 1;
  isMap[0] = 0;

  for (;;) {
    while (depth > 0 && remaining[depth] === 0) depth--;
    if (remaining[depth] === 0) break;
    const atKey = isMap[depth] === 1 && remaining[depth]! % 2 === 0;
    remaining[depth]!--;
    if (++nodes > maxNodes) return unreadable(`the frame holds more than ${maxNodes} values`);
    if (pos >= end) return truncated(pos);
    const start = pos;
    const type = bytes[pos++]!;
    let length = -1; // a string's or binary's byte length, once known
    let children = -1; // a container's element count, once known
    let map = false;

    if (type <= 0x7f || type >= 0xe0 || type === 0xc0 || type === 0xc2 || type === 0xc3) {
      // fixint, nil, false, true: the type byte is the whole value
    } else if (type <= 0x8f) {
      map = true;
      children = type & 0x0f;
    } else if (type <= 0x9f) {
      children = type & 0x0f;
    } else if (type <= 0xbf) {
      length = type & 0x1f;
    } else {
      switch (type) {
        case 0xc1:
          return unreadable(`byte 0xc1 at offset ${start} is not msgpack (the format never uses it)`);
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          return unreadable(
            `byte 0x${type.toString(16)} at offset ${start} starts a msgpack extension type; leasehold speaks plain msgpack only (no extension types: no timestamps, no msgpackr records or references)`,
          );
        case 0xc4:
        case 0xd9:
          if (end - pos < 1) return truncated(pos);
          length = bytes[pos]!;
          pos += 1;
          break;
        case 0xc5:
        case 0xda:
          if (end - pos < 2) return truncated(pos);
          length = uint16(bytes, pos);
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          if (end - pos < 4) return truncated(pos);
          length = uint32(bytes, pos);
          pos += 4;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          pos += 4;
          break;
        case 0xcb:
          pos += 8;
          break;
        case 0xcc:
        case 0xd0:
          pos += 1;
          break;
        case 0xcd:
        case 0xd1:
          pos += 2;
          break;
        case 0xcf:
        case 0xd3:
          if (end - pos < 8) return truncated(pos);
          if (problem === undefined) {
            const high = type === 0xcf ? uint32(bytes, pos) : uint32(bytes, pos) | 0;
            // high * 2^32 is exact; adding the low word rounds, but never across ±2^53, which are representable.
            if (!Number.isSafeInteger(high * 4_294_967_296 + uint32(bytes, pos + 4))) {
              problem = {
                code: ErrorCode.OUT_OF_RANGE,
                error: `the 64-bit integer at offset ${start} is outside the safe-integer range ±(2^53 - 1), which is all that leasehold carries exactly`,
              };
            }
          }
          pos += 8;
          break;
        case 0xdc:
          if (end - pos < 2) return truncated(pos);
          children = uint16(bytes, pos);
          pos += 2;
          break;
        case 0xdd:
          if (end - pos < 4) return truncated(pos);
          children = uint32(bytes, pos);
          pos += 4;
          break;
        case 0xde:
          if (end - pos < 2) return truncated(pos);
          map = true;
          children = uint16(bytes, pos);
          pos += 2;
          break;
        case 0xdf:
          if (end - pos < 4) return truncated(pos);
          map = true;
          children = uint32(bytes, pos);
          pos += 4;
          break;
      }
      if (pos > end) return truncated(end);
    }

    const isString = length >= 0 && (type <= 0xbf || type >= 0xd9);
    if (atKey && !isString && problem === undefined) {
      problem = { code: ErrorCode.BAD_REQUEST, error: `the map key at offset ${start} is not a string; every map key must be a string` };
    }
    if (length >= 0) {
      if (length > end - pos) return unreadable(`the ${isString ? "string" : "binary"} at offset ${start} declares ${length} bytes, but only ${end - pos} follow`);
      if (isString && problem === undefined) problem = stringProblem(bytes, pos, length, atKey, start);
      pos += length;
    } else if (children > 0) {
      // Every value takes at least one byte, so a count larger than what is left cannot be honest.
      const values = map ? children * 2 : children;
      if (values > end - pos) return unreadable(`the ${map ? "map" : "array"} at offset ${start} declares ${children} entries, but only ${end - pos} bytes follow`);
      if (depth + 1 > BOUNDS.maxFrameDepth) return unreadable(`arrays and maps nest more than ${BOUNDS.maxFrameDepth} deep (offset ${start})`);
      if (map) mapEntries += children;
      depth++;
      remaining[depth] = values;
      isMap[depth] = map ? 1 : 0;
    } else if (children === 0 && depth + 1 > BOUNDS.maxFrameDepth) {
      return unreadable(`arrays and maps nest more than ${BOUNDS.maxFrameDepth} deep (offset ${start})`);
    }
  }
  if (pos !== end) return unreadable(`${end - pos} bytes follow the message at offset ${pos}; a frame holds exactly one msgpack value`);
  return { readable: true, mapEntries, problem };
}

// Scratch for the walk, reused by every call (a scan runs to the end synchronously): per open
// container, the values still to read and whether it is a map (then keys sit at even counts).
const remaining = new Float64Array(BOUNDS.maxFrameDepth + 1);
const isMap = new Uint8Array(BOUNDS.maxFrameDepth + 1);

// Big-endian reads by hand: a DataView per frame cost more than the rest of the scan of a small request.
function uint16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

function uint32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

/** "__proto__" in UTF-8. */
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];

function stringProblem(bytes: Uint8Array, from: number, length: number, atKey: boolean, start: number): FrameProblem | undefined {
  if (atKey && length === PROTO.length && PROTO.every((byte, i) => bytes[from + i] === byte)) {
    return { code: ErrorCode.BAD_REQUEST, error: `the map key "__proto__" at offset ${start} is not allowed (JavaScript objects cannot hold it as data)` };
  }
  if (!isUtf8(bytes, from, from + length)) {
    return { code: ErrorCode.BAD_REQUEST, error: `the string at offset ${start} is not valid UTF-8` };
  }
  return undefined;
}

/** Well-formed UTF-8 as the Unicode standard defines it (table 3-7): no overlong forms, no surrogates, nothing above U+10FFFF. */
function isUtf8(bytes: Uint8Array, from: number, to: number): boolean {
  let i = from;
  while (i < to) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    let size: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) size = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      size = 3;
      if (lead === 0xe0) low = 0xa0;
      else if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      size = 4;
      if (lead === 0xf0) low = 0x90;
      else if (lead === 0xf4) high = 0x8f;
    } else return false;
    if (i + size > to) return false;
    const second = bytes[i + 1]!;
    if (second < low || second > high) return false;
    for (let k = 2; k < size; k++) {
      const next = bytes[i + k]!;
      if (next < 0x80 || next > 0xbf) return false;
    }
    i += size;
  }
  return true;
}

function unreadable(reason: string): FrameScan {
  return { readable: false, error: reason };
}

function truncated(at: number): FrameScan {
  return unreadable(`the frame ends at offset ${at} in the middle of a value (truncated)`);
}
