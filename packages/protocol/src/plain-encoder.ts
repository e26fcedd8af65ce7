/**
 * msgpack for the plainest messages, written by hand: maps of at most 15 entries, with ASCII keys,
 * holding integers that fit in 32 bits, booleans, null, ASCII strings and such maps again: the
 * replies to the common requests, and the common requests. It writes the bytes msgpackr writes for
 * the same value (the smallest integer and length forms; properties holding `undefined` left out)
 * and returns undefined for anything else, which the codec then hands to msgpackr. Measured (CPU time per `encode`, 300,000 calls, alternating rounds,
 * loaded 2-core machine): a lock.acquire reply 1.37-1.60 → 0.65-0.99 µs, lock.release's 1.17-1.40 →
 * 0.56-0.62, kv.put's 0.98-1.41 → 0.57-0.68; a kv.get reply with a 100-character value about the same
 * (1.95-2.08 → 2.10-2.21: the native UTF-8 write dominates).
 */
export function encodePlain(message: unknown): Uint8Array | undefined {
  return encodedLengthPlain(message) === undefined ? undefined : scratch.slice(0, pos);
}

/**
 * `encodePlain`'s bytes as a view of the encoder's own scratch buffer, which the next call overwrites:
 * for a caller that copies them at once (into a WebSocket frame), so that a reply is not first copied
 * into an ArrayBuffer of its own (see codec.ts, `encodeTransient`).
 */
export function encodePlainTransient(message: unknown): Uint8Array | undefined {
  return encodedLengthPlain(message) === undefined ? undefined : scratchView(pos);
}

/**
 * `encodePlainTransient({ type: "reply", id, result })` for a reply built with its keys in that order
 * (the server's `Session.reply`, the one place that makes them): the envelope's bytes are the same for
 * every reply but the id, so they are copied in, not found by walking the envelope's keys and writing
 * "type", "reply", "id" and "result" character by character. Only the result is walked. Undefined
 * where `encodePlainTransient` of that envelope would be (the result not plain, the id not an integer).
 * Measured (a lock.acquire and a lock.release reply in turn, 10^6 calls, medians of 7 runs, three
 * passes a build, load 5): 294-302 ns a reply by `encodeTransient`, 176-178 ns by this.
 */
export function encodeReplyPlainTransient(id: number, result: object): Uint8Array | undefined {
  pos = 0;
  putBytes(REPLY_HEAD);
  if (!writeInteger(id)) return undefined;
  putBytes(RESULT_KEY);
  return writeValue(result, 1) ? scratchView(pos) : undefined;
}

/** A few bytes by a loop: `scratch.set` of a short array costs more than its copy (a call into the runtime). */
function putBytes(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) scratch[pos++] = bytes[i]!;
}

/** The length of `encodePlain(message)` (undefined where it returns undefined), without a copy of the bytes. */
export function encodedLengthPlain(message: unknown): number | undefined {
  pos = 0;
  return writeValue(message, 0) ? pos : undefined;
}

/** Deeper than this and the value goes to msgpackr (replies nest two maps deep). */
const MAX_DEPTH = 4;
/** Room for the largest plain message (15 entries of 31-character keys and values, nested): larger ones go to msgpackr. */
const SCRATCH_BYTES = 4_096;

const scratch = new Uint8Array(SCRATCH_BYTES);
let pos = 0;

/**
 * The scratch's first `length` bytes, as one view per length made once and handed out again: a view
 * made per call (`subarray`) was 7 % of the bytes a server allocated per lock pair (sampling heap
 * profile, 16 clients), more than any other single allocation of ours; the young generation is
 * collected as often as it fills. A transient view is only valid until the next encode either way.
 * Longer messages (stored values) get a view of their own, so that the views kept stay few. In a loop
 * (10^6 calls, medians of 7 runs, load 10): a lock.acquire and a lock.release reply in turn 176-178 →
 * 151-155 ns (`encodeReplyTransient`); the two requests by `encodeTransient` 373-376 → 340-350 ns.
 */
function scratchView(length: number): Uint8Array {
  if (length >= VIEWS_KEPT) return scratch.subarray(0, length);
  let view = views[length];
  if (view === undefined) views[length] = view = scratch.subarray(0, length);
  return view;
}

const VIEWS_KEPT = 256;
const views: (Uint8Array | undefined)[] = [];

/** A reply's fixmap of three entries, `type: "reply"` and the key `id`, and then the key `result`, as msgpack. */
const REPLY_HEAD = asciiBytes([0x83, 0xa4, "type", 0xa5, "reply", 0xa2, "id"]);
const RESULT_KEY = asciiBytes([0xa6, "result"]);

function asciiBytes(parts: readonly (number | string)[]): Uint8Array {
  const bytes: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") bytes.push(part);
    else for (let i = 0; i < part.length; i++) bytes.push(part.charCodeAt(i));
  }
  return Uint8Array.from(bytes);
}

function writeValue(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "number":
      return writeInteger(value);
    case "string":
      return writeString(value);
    case "boolean":
      return put1(value ? 0xc3 : 0xc2);
    case "object":
      if (value === null) return put1(0xc0);
      if (depth >= MAX_DEPTH || Object.getPrototypeOf(value) !== Object.prototype) return false;
      return writeMap(value as Record<string, unknown>, depth);
    default:
      return false;
  }
}

/**
 * One pass over the map's properties: its header (a fixmap, the only form written) is written after its
 * entries, in the byte kept for it. Counting the entries first took a second walk of every map; a
 * reply is two maps, and the walks were the encoder's largest part (perf, 16 clients of lock pairs).
 */
function writeMap(map: Record<string, unknown>, depth: number): boolean {
  const header = pos;
  if (!put1(0x80)) return false;
  let entries = 0;
  for (const key in map) {
    const value = map[key];
    if (value === undefined) continue;
    if (++entries > 15 || !writeString(key) || !writeValue(value, depth + 1)) return false;
  }
  scratch[header] = 0x80 | entries;
  return true;
}

function writeInteger(value: number): boolean {
  if (!Number.isInteger(value) || Object.is(value, -0)) return false;
  if (value >= 0) {
    if (value < 0x80) return put1(value);
    if (value < 0x100) return put1(0xcc) && put1(value);
    if (value < 0x1_0000) return put1(0xcd) && put2(value);
    if (value < 0x1_0000_0000) return put1(0xce) && put4(value);
    return false;
  }
  if (value >= -0x20) return put1(value + 0x100);
  if (value >= -0x80) return put1(0xd0) && put1(value + 0x100);
  if (value >= -0x8000) return put1(0xd1) && put2(value + 0x1_0000);
  if (value >= -0x8000_0000) return put1(0xd2) && put4(value + 0x1_0000_0000);
  return false;
}

function writeString(text: string): boolean {
  const length = text.length;
  if (length < 0x20) {
    if (!put1(0xa0 | length) || pos + length > SCRATCH_BYTES) return false;
    for (let i = 0; i < length; i++) {
      const code = charCodeAtMethod.call(text, i);
      if (code >= 0x80) return false;
      scratch[pos++] = code;
    }
    return true;
  }
  // Longer strings (a stored value) by the native encoder: this loop took 2.6 µs for a kv.get reply
  // with a 100-character value, msgpackr 2.0. ASCII only (as many bytes as characters), so that the
  // header, chosen by the length, is msgpackr's.
  if (length >= 0x1_0000 || !(length < 0x100 ? put1(0xd9) && put1(length) : put1(0xda) && put2(length)) || pos + length > SCRATCH_BYTES) return false;
  const { read, written } = utf8.encodeInto(text, scratch.subarray(pos, pos + length));
  pos += written;
  return read === length && written === length;
}

const utf8 = new TextEncoder();

function put1(byte: number): boolean {
  if (pos >= SCRATCH_BYTES) return false;
  scratch[pos++] = byte;
  return true;
}

function put2(value: number): boolean {
  return put1(value >>> 8) && put1(value & 0xff);
}

function put4(value: number): boolean {
  return put1(value >>> 24) && put1((value >>> 16) & 0xff) && put1((value >>> 8) & 0xff) && put1(value & 0xff);
}

/**
 * `String.prototype.charCodeAt`, taken once, called as `charCodeAtMethod.call(text, i)`: `text.charCodeAt(i)`
 * looks the method up on `String.prototype` at every call, which optimised code folds to a constant
 * only while that object has fast properties. Once a library in the same process has put it in
 * dictionary mode (ioredis 6 does on loading; the bench's harness loads it for the Redis rows) V8
 * calls its generic `LoadIC` for every character of every key, name and short value: the harness's
 * largest user-space item, 4.3 % of its perf samples, with the `LoadIC` calls in `writeMap`'s
 * optimised code at `charCodeAt` (`--print-opt-code`). Called through this variable, the method is not
 * looked up: what is left is a call of V8's charCodeAt builtin per character, whatever the prototype's
 * mode (not inlined: see plain-reader.ts, `KnownNames`). In-process loop encoding 4 common requests and reading
 * 4 replies, 6 alternating passes (load 3-5): 5.50 -> 3.20 µs with ioredis loaded, 3.10 -> 3.17 µs
 * without; the harness's CPU per op, 16 clients: pairs, put and get 0.96, 0.98 and 0.95 of before
 * (BENCHMARKS.md, "The client's property loads (round 11)").
 */
const charCodeAtMethod = String.prototype.charCodeAt;
