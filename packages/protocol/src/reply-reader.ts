import { MAP, SKIP, atEnd, knownNames, readKnown, readMapHead, readValue, startReading, stopReading } from "./plain-reader.js";
import { RESULT_SHAPES } from "./result-fast-path.js";
import type { ServerMessage } from "./server-messages.js";

/**
 * The client's counterpart of request-reader.ts: the replies to the common requests read straight
 * from the frame's bytes, without the frame scan, msgpackr's general decoder, the count of map keys
 * and the envelope's check that `decodeServerMessage` otherwise runs (together about 7 % of the
 * bench harness's busy CPU under uncontended lock pairs and kv.get, 16 clients).
 *
 * It reads only the plainest form of a reply: a fixmap of `type` ("reply"), `id` (a positive safe
 * integer) and `result`, each once, in any order; `result` a fixmap whose keys are the fields of the
 * common results (result-fast-path.ts), each at most once, with values that are integers (no
 * float32), float64s, booleans, nil, strings (valid UTF-8) and, for `entry`, a fixmap of `value`,
 * `revision` and `lease` holding the same; nothing after the map. On anything else (another
 * message, a key it does not know, a value of another type, a byte past the end, a duplicate) it
 * returns undefined and the frame takes the full path, which alone refuses frames and words the
 * refusals. What it builds is what msgpackr builds from the same bytes; the caller, which knows the
 * op, still holds the result to its op's rule (`acceptCommonResult`). `reply-reader.test.ts` holds it
 * to the full path on generated replies, valid and broken.
 */
export function readCommonReply(frame: Uint8Array): ServerMessage | undefined {
  startReading(frame);
  try {
    if (readMapHead() !== 3) return undefined;
    let type: string | undefined;
    let id: unknown;
    let result: unknown;
    for (let entry = 0; entry < 3; entry++) {
      const key = readKnown(ENVELOPE_NAMES);
      if (key === "type" && type === undefined) type = readKnown(TYPE_NAMES) ?? "";
      else if (key === "id" && id === undefined) id = readValue();
      else if (key === "result" && result === undefined) result = readResult();
      else return undefined;
      if (type === "" || id === SKIP || result === SKIP) return undefined;
    }
    if (type !== "reply" || !Number.isSafeInteger(id) || (id as number) < 1 || !atEnd()) return undefined;
    return { type, id: id as number, result: result as Record<string, unknown> };
  } finally {
    stopReading();
  }
}

/** The result's map: the common results' fields, and kv.get's entry. */
function readResult(): unknown {
  const entries = readMapHead();
  return entries < 0 ? SKIP : readFields(entries, RESULT_NAMES, "entry");
}

/** A map of `entries` known fields, each once; the field named `nested` may hold kv.get's entry, `{ value, revision, lease? }` of plain values (a stored map, array or binary takes the full path). */
function readFields(entries: number, names: typeof RESULT_NAMES, nested: string | undefined): unknown {
  const record: Fields = {};
  for (; entries > 0; entries--) {
    const key = readKnown(names);
    if (key === undefined) return SKIP;
    let value = readValue();
    if (value === MAP) value = key === nested ? readFields(readMapHead(), ENTRY_NAMES, undefined) : SKIP;
    if (value === SKIP || !store(record, key, value)) return SKIP;
  }
  return record;
}

/** Every field of the common results and of kv.get's entry; the reader never stores undefined, so undefined means "not seen yet". */
interface Fields {
  acquired?: unknown;
  token?: unknown;
  released?: unknown;
  revision?: unknown;
  entry?: unknown;
  value?: unknown;
  lease?: unknown;
  ttl?: unknown;
  keepAlive?: unknown;
  cancelled?: unknown;
  deleted?: unknown;
  ok?: unknown;
  elected?: unknown;
  resigned?: unknown;
}

/**
 * Stores `value` as the field `key` (false if it was stored already, or if it is no field of a common
 * result: the frame then takes the full path), through a property store of its own per name. The one
 * keyed store `record[key] = value` and load `record[key]` that this replaces saw every result's and
 * entry's shape: V8 ran both through its megamorphic handlers, 0.75 % of the bench harness's samples
 * under 16 clients of lock pairs (perf, BENCHMARKS.md "The client's CPU per request (round 12)"); each
 * store here sees one or two shapes. The object is the same: the fields in the frame's order.
 */
function store(record: Fields, key: string, value: unknown): boolean {
  switch (key) {
    case "acquired":
      if (record.acquired !== undefined) return false;
      record.acquired = value;
      return true;
    case "token":
      if (record.token !== undefined) return false;
      record.token = value;
      return true;
    case "released":
      if (record.released !== undefined) return false;
      record.released = value;
      return true;
    case "revision":
      if (record.revision !== undefined) return false;
      record.revision = value;
      return true;
    case "entry":
      if (record.entry !== undefined) return false;
      record.entry = value;
      return true;
    case "value":
      if (record.value !== undefined) return false;
      record.value = value;
      return true;
    case "lease":
      if (record.lease !== undefined) return false;
      record.lease = value;
      return true;
    case "ttl":
      if (record.ttl !== undefined) return false;
      record.ttl = value;
      return true;
    case "keepAlive":
      if (record.keepAlive !== undefined) return false;
      record.keepAlive = value;
      return true;
    case "cancelled":
      if (record.cancelled !== undefined) return false;
      record.cancelled = value;
      return true;
    case "deleted":
      if (record.deleted !== undefined) return false;
      record.deleted = value;
      return true;
    case "ok":
      if (record.ok !== undefined) return false;
      record.ok = value;
      return true;
    case "elected":
      if (record.elected !== undefined) return false;
      record.elected = value;
      return true;
    case "resigned":
      if (record.resigned !== undefined) return false;
      record.resigned = value;
      return true;
    default:
      return false;
  }
}

const ENVELOPE_NAMES = knownNames(["type", "id", "result"]);
const TYPE_NAMES = knownNames(["reply"]);
const RESULT_NAMES = knownNames([...RESULT_SHAPES.values()].flatMap((shapes) => shapes.flatMap((shape) => Object.keys(shape))));
const ENTRY_NAMES = knownNames(["value", "revision", "lease"]);
