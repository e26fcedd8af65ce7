import type { ClientMessage } from "./client-messages.js";
import { MAP, SKIP, atEnd, knownNames, readKnown, readMapHead, readValue, startReading, stopReading } from "./plain-reader.js";
import { FAST_OPS, FIELD_CHECKS, acceptCommonRequest } from "./request-fast-path.js";

/**
 * The common requests read straight from the frame's bytes, without the frame scan, msgpackr's
 * general decoder and the count of map keys that `decodeClientMessage` otherwise runs before the
 * fast path's check (together 9 % of the server's busy CPU under uncontended lock pairs). Measured
 * (CPU time per `decodeClientMessage`, 200,000 calls, 7 alternating rounds, medians): lock.acquire
 * 2.01 → 1.60 µs, lock.release 1.95 → 1.59, kv.put (100-byte value) 2.83 → 2.13, kv.get 1.67 → 1.27.
 *
 * It reads only the plainest form of a request: a fixmap at the top whose keys are the names of the
 * fast path's fields, each at most once; values that are integers (no float32: msgpackr rounds those),
 * float64s, booleans, nil, strings (valid UTF-8) and, for `fence`, a fixmap of `lock` and `token`;
 * nothing after the map. On anything else (another type, a key it does not know, a byte past the end,
 * a duplicate, an unsafe integer) it returns undefined and the frame takes the full path, which alone
 * refuses frames and words the refusals. What it builds is what msgpackr would build from the same
 * bytes, and it hands that to the fast path's check (request-fast-path.ts), so the message it
 * returns is the one the full path returns. `request-reader.test.ts` holds it to that on generated
 * frames, valid and broken.
 */
export function readCommonRequest(frame: Uint8Array): ClientMessage | undefined {
  startReading(frame);
  try {
    const shaped = readShapedRequest();
    if (shaped !== undefined) return shaped;
    startReading(frame);
    const record = readTopMap();
    return record === undefined || !atEnd() ? undefined : acceptCommonRequest(record);
  } finally {
    stopReading();
  }
}

/**
 * The requests of a lock pair and of a plain put or get exactly as the client library sends them,
 * `{ op, id, name, lease, wait }`, `{ op, id, name, token }`, `{ op, id, key, value }` and `{ op, id, key }`
 * in that order, read into an object literal of that shape, each field held to the fast path's rule as it
 * is read; undefined for anything else (another order, another field, a value outside its rule, a map
 * as the value), which `readTopMap` then reads as before. The general reader adds each key to an empty
 * object and looks fields up by key, stores and loads that V8 can only do through its megamorphic
 * handlers: 2.3 % of the server's CPU per uncontended lock pair (perf, 16 clients, BENCHMARKS.md "Lock
 * pairs and the one-client row (round 9)"); decoding was still 8 % of a put's ("The server's path per
 * request (round 10)"). The object is the one msgpackr builds from the same bytes, keys in the same order.
 */
export function readShapedRequest(): ClientMessage | undefined {
  const entries = readMapHead();
  if (entries < 3 || entries > 5 || readKnown(OP_KEY) === undefined) return undefined;
  const op = readKnown(SHAPED_OPS);
  if (op === undefined || readKnown(ID_KEY) === undefined) return undefined;
  const id = readValue();
  if (!FIELD_CHECKS.positive(id)) return undefined;
  if (op === "kv.get" || op === "kv.put") return readKeyValueRest(op, entries, id as number);
  if (readKnown(NAME_KEY) === undefined) return undefined;
  const name = readValue();
  if (!FIELD_CHECKS.name(name)) return undefined;
  if (op === "lock.release") {
    if (entries !== 4 || readKnown(TOKEN_KEY) === undefined) return undefined;
    const token = readValue();
    return FIELD_CHECKS.positive(token) && atEnd() ? { op, id: id as number, name: name as string, token: token as number } : undefined;
  }
  if (entries !== 5 || readKnown(LEASE_KEY) === undefined) return undefined;
  const lease = readValue();
  if (!FIELD_CHECKS.positive(lease) || readKnown(WAIT_KEY) === undefined) return undefined;
  const wait = readValue();
  return FIELD_CHECKS.wait(wait) && atEnd() ? { op: "lock.acquire", id: id as number, name: name as string, lease: lease as number, wait: wait as number | true } : undefined;
}

/** The rest of `{ op, id, key }` (kv.get) or `{ op, id, key, value }` (kv.put), after the id. */
function readKeyValueRest(op: "kv.get" | "kv.put", entries: number, id: number): ClientMessage | undefined {
  if (entries !== (op === "kv.get" ? 3 : 4) || readKnown(KEY_KEY) === undefined) return undefined;
  const key = readValue();
  if (!FIELD_CHECKS.name(key)) return undefined;
  if (op === "kv.get") return atEnd() ? { op, id, key: key as string } : undefined;
  if (readKnown(VALUE_KEY) === undefined) return undefined;
  const value = readValue();
  // A map (MAP) is read by the general reader's path; SKIP is a value it cannot read.
  if (value === MAP || value === SKIP || !FIELD_CHECKS.value(value) || !atEnd()) return undefined;
  return { op, id, key: key as string, value: value as string | number | boolean | null };
}

function readTopMap(): Record<string, unknown> | undefined {
  const entries = readMapHead();
  if (entries < 0) return undefined;
  const record: Record<string, unknown> = {};
  for (let left = entries; left > 0; left--) {
    const key = readKnown(FIELD_NAMES);
    // None of the known names is a property of Object.prototype, so undefined means "not seen yet".
    if (key === undefined || record[key] !== undefined) return undefined;
    let value = key === "op" ? (readKnown(OP_NAMES) ?? SKIP) : readValue();
    if (value === MAP) value = key === "fence" ? readFence() : SKIP;
    if (value === SKIP) return undefined;
    record[key] = value;
  }
  return record;
}

/** `fence`: `{ lock, token }` in either order; the fast path's check then holds each to its rule. */
function readFence(): unknown {
  const fence: Record<string, unknown> = {};
  for (let entries = readMapHead(); entries > 0; entries--) {
    const key = readKnown(FENCE_NAMES);
    if (key === undefined || fence[key] !== undefined) return SKIP;
    const value = readValue();
    if (value === SKIP || value === MAP) return SKIP;
    fence[key] = value;
  }
  return fence;
}

const FIELD_NAMES = knownNames(["op", ...[...FAST_OPS.values()].flatMap((fields) => Object.keys(fields))]);
const OP_NAMES = knownNames(FAST_OPS.keys());
const FENCE_NAMES = knownNames(["lock", "token"]);
const OP_KEY = knownNames(["op"]);
const SHAPED_OPS = knownNames(["lock.acquire", "lock.release", "kv.put", "kv.get"]);
const ID_KEY = knownNames(["id"]);
const NAME_KEY = knownNames(["name"]);
const TOKEN_KEY = knownNames(["token"]);
const LEASE_KEY = knownNames(["lease"]);
const WAIT_KEY = knownNames(["wait"]);
const KEY_KEY = knownNames(["key"]);
const VALUE_KEY = knownNames(["value"]);
