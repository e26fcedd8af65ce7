/**
 * The byte-level reading shared by the readers of plain common messages (request-reader.ts on the
 * server, reply-reader.ts on the client): one frame at a time, read synchronously from its start to
 * its end, building only integers, float64s, booleans, nil and strings, and maps through the
 * caller's own function. Whatever it does not read (another type, a byte past the end, an unsafe
 * integer, malformed UTF-8) comes back as `SKIP`, and the caller leaves the frame to the full path
 * (scan, msgpackr, schema), which alone refuses frames and words the refusals.
 */

/** Something the reader does not read: the frame goes to the full path. */
export const SKIP = Symbol("skip");

/** A fixmap is next, not read: the caller reads it (`readMapHead`, then its entries) or gives up. */
export const MAP = Symbol("map");

/** Starts reading `frame` from its first byte. */
export function startReading(frame: Uint8Array): void {
  bytes = frame;
  pos = 0;
}

/** True when every byte was read (a byte after the one value sends the frame to the full path). */
export function atEnd(): boolean {
  return pos === bytes.length;
}

/** Done: the reader keeps no reference to a frame it has read (a large one would stay alive). */
export function stopReading(): void {
  bytes = EMPTY;
}

/** A fixmap's entry count, the reader then past its head; -1 (and nothing read) for anything else. */
export function readMapHead(): number {
  const type = bytes[pos];
  if (type === undefined || type < 0x80 || type > 0x8f) return -1;
  pos++;
  return type & 0x0f;
}

/**
 * One value: an integer (no float32: msgpackr rounds those), a float64, a boolean, nil or a string of
 * valid UTF-8; `MAP` (nothing read) before a fixmap, `SKIP` for anything else.
 */
export function readValue(): unknown {
  const type = bytes[pos];
  if (type === undefined) return SKIP;
  if (type <= 0x7f) {
    pos++;
    return type;
  }
  if (type >= 0xe0) {
    pos++;
    return type - 0x100;
  }
  if (type >= 0xa0 && type <= 0xbf) return readString(pos + 1, type & 0x1f);
  if (type >= 0x80 && type <= 0x8f) return MAP;
  const at = pos + 1;
  switch (type) {
    case 0xc0:
      pos = at;
      return null;
    case 0xc2:
      pos = at;
      return false;
    case 0xc3:
      pos = at;
      return true;
    case 0xcc:
      return fits(at, 1) ? take(at, 1, bytes[at]!) : SKIP;
    case 0xcd:
      return fits(at, 2) ? take(at, 2, uint16(at)) : SKIP;
    case 0xce:
      return fits(at, 4) ? take(at, 4, uint32(at)) : SKIP;
    case 0xcf:
      return fits(at, 8) ? safe(at, uint32(at) * 0x1_0000_0000 + uint32(at + 4)) : SKIP;
    case 0xd0:
      return fits(at, 1) ? take(at, 1, (bytes[at]! << 24) >> 24) : SKIP;
    case 0xd1:
      return fits(at, 2) ? take(at, 2, (uint16(at) << 16) >> 16) : SKIP;
    case 0xd2:
      return fits(at, 4) ? take(at, 4, uint32(at) | 0) : SKIP;
    case 0xd3:
      // The high word signed; high * 2^32 + low is exact whenever the result is a safe integer.
      return fits(at, 8) ? safe(at, (uint32(at) | 0) * 0x1_0000_0000 + uint32(at + 4)) : SKIP;
    case 0xcb:
      return fits(at, 8) ? take(at, 8, float64(at)) : SKIP;
    case 0xd9:
      return fits(at, 1) ? readString(at + 1, bytes[at]!) : SKIP;
    case 0xda:
      return fits(at, 2) ? readString(at + 2, uint16(at)) : SKIP;
    default:
      return SKIP;
  }
}

/**
 * One of `names` as a fixstr, returned as the interned name (no string is built), or undefined
 * (another string, another type; nothing read).
 */
export function readKnown(names: KnownNames): string | undefined {
  const type = bytes[pos];
  if (type === undefined || type < 0xa0 || type > 0xbf) return undefined;
  const from = pos + 1;
  const length = type & 0x1f;
  if (from + length > bytes.length) return undefined;
  const candidates = names[length];
  if (candidates === undefined) return undefined;
  next: for (const candidate of candidates) {
    const expected = candidate.bytes;
    for (let i = 0; i < length; i++) if (bytes[from + i] !== expected[i]) continue next;
    pos = from + length;
    return candidate.name;
  }
  return undefined;
}

/**
 * Names by their length in bytes (all ASCII), each with its bytes: comparing byte with byte calls
 * nothing, where `charCodeAtMethod.call(name, i)` was a call of V8's charCodeAt builtin per character
 * (not inlined: the method is a module variable, not a constant to TurboFan), 0.7 % of the bench
 * harness's samples under 16 clients of lock pairs (perf, BENCHMARKS.md "The client's CPU per request
 * (round 12)").
 */
export type KnownNames = readonly (readonly KnownName[] | undefined)[];

interface KnownName {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export function knownNames(names: Iterable<string>): KnownNames {
  const byLength: KnownName[][] = [];
  for (const name of new Set(names)) (byLength[name.length] ??= []).push({ name, bytes: Uint8Array.from(name, (character) => character.charCodeAt(0)) });
  return byLength;
}

const EMPTY = new Uint8Array(0);
// The frame being read and the offset in it: one read runs to its end synchronously.
let bytes: Uint8Array = EMPTY;
let pos = 0;

/**
 * A string of `length` bytes from `from`. An ASCII string (names, keys) is cut from a Node Buffer
 * by its latin1 slice, or built by hand from another Uint8Array (a browser's); the rest is decoded by
 * a TextDecoder that throws on malformed UTF-8 (which the full path refuses) and keeps a leading
 * byte-order mark (as msgpackr does). Measured per 26-byte name (loaded 2-core machine, 10^6 calls,
 * 3 rounds): latin1 slice 0.6-1.6 µs, by hand 1.3-3.3 µs, TextDecoder 1.3-3.6 µs.
 */
function readString(from: number, length: number): unknown {
  const to = from + length;
  if (to > bytes.length) return SKIP;
  pos = to;
  if (!isAscii(from, to)) return decodeUtf8(from);
  const slice = (bytes as Partial<NodeBuffer>).latin1Slice;
  if (slice !== undefined) return slice.call(bytes, from, to);
  let text = "";
  for (let i = from; i < to; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}

/**
 * No byte from `from` to `to` has its high bit set. The bytes are or-ed together four a turn and tested
 * once: a 100-byte value 90 → 54 ns in a loop, against a test and branch per byte (BENCHMARKS.md,
 * "Key-value put (round 12)").
 */
function isAscii(from: number, to: number): boolean {
  let bits = 0;
  let i = from;
  for (; i + 3 < to; i += 4) bits |= bytes[i]! | bytes[i + 1]! | bytes[i + 2]! | bytes[i + 3]!;
  for (; i < to; i++) bits |= bytes[i]!;
  return bits < 0x80;
}

/** Node's Buffer, which frames are on a server: `latin1Slice` is what `toString("latin1", ...)` calls, without its dispatch. */
interface NodeBuffer {
  latin1Slice(start: number, end: number): string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decodeUtf8(from: number): unknown {
  try {
    return utf8.decode(bytes.subarray(from, pos));
  } catch {
    return SKIP;
  }
}

function fits(from: number, length: number): boolean {
  return from + length <= bytes.length;
}

function take(from: number, length: number, value: number): number {
  pos = from + length;
  return value;
}

/** A 64-bit integer: taken when it is safe, else the full path refuses it (OUT_OF_RANGE). */
function safe(from: number, value: number): unknown {
  if (!Number.isSafeInteger(value)) return SKIP;
  pos = from + 8;
  return value;
}

// Big-endian reads by hand, as in frame-scan.ts: a DataView per frame costs more than the read.
function uint16(at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

function uint32(at: number): number {
  return bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

// A float64's 8 bytes copied into a scratch array in the machine's order, then read as a double.
const floatScratch = new Float64Array(1);
const floatBytes = new Uint8Array(floatScratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function float64(at: number): number {
  for (let i = 0; i < 8; i++) floatBytes[LITTLE_ENDIAN ? 7 - i : i] = bytes[at + i]!;
  return floatScratch[0]!;
}
