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
  const record: Record<string, unknown> = {};
  for (; entries > 0; entries--) {
    const key = readKnown(names);
    // None of the known names is a property of Object.prototype, so undefined means "not seen yet".
    if (key === undefined || record[key] !== undefined) return SKIP;
    let value = readValue();
    if (value === MAP) value = key === nested ? readFields(readMapHead(), ENTRY_NAMES, undefined) : SKIP;
    if (value === SKIP) return SKIP;
    record[key] = value;
  }
  return record;
}

const ENVELOPE_NAMES = knownNames(["type", "id", "result"]);
const TYPE_NAMES = knownNames(["reply"]);
const RESULT_NAMES = knownNames([...RESULT_SHAPES.values()].flatMap((shapes) => shapes.flatMap((shape) => Object.keys(shape))));
const ENTRY_NAMES = knownNames(["value", "revision", "lease"]);
