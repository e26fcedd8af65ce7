import type { RequestOp } from "./client-messages.js";
import { isPlainObject } from "./reply-fast-path.js";
import { FIELD_CHECKS, type FieldKind } from "./request-fast-path.js";

/**
 * The client's check of the common ops' results that builds nothing, the counterpart of
 * `acceptCommonRequest` (request-fast-path.ts): true only when `result` is exactly what its op's
 * `Results` schema accepts, as it is (no key the schema would strip, every field within its rule), so
 * that the caller can take it without the parse and its copy. False sends it through the schema,
 * which alone words what is wrong.
 *
 * Measured (in-process loop, loaded 2-core machine): zod's parse of a kv.get result took 6-9 µs, of a
 * lock.acquire result 2.4-3.0 µs, of a kv.put result 1.1-1.4 µs, per reply. `result-fast-path.test.ts`
 * holds it to the schemas.
 */
export function acceptCommonResult(op: RequestOp, result: unknown): boolean {
  const shapes = RESULT_SHAPES.get(op);
  if (shapes === undefined || !isPlainObject(result)) return false;
  for (const shape of shapes) if (hasShape(result, shape)) return true;
  return false;
}

/** The rule of one field of a result; the request path's rules, and the few that only results have. */
export type ResultFieldKind = FieldKind | "true" | "false" | "entry";

/**
 * Each op's result, as the alternatives its schema (server-messages.ts, `Results`) allows; every
 * field here is required. Ops left out (lists, queries, admin, watches) are rarer and larger, and
 * are checked by zod alone.
 */
export const RESULT_SHAPES: ReadonlyMap<RequestOp, readonly Readonly<Record<string, ResultFieldKind>>[]> = new Map<RequestOp, Record<string, ResultFieldKind>[]>([
  ["cancel", [{ cancelled: "boolean" }]],
  ["lease.grant", [{ lease: "positive", ttl: "millis", keepAlive: "boolean" }]],
  ["lease.renew", [{ ttl: "millis" }]],
  ["lease.revoke", [{}]],
  ["lock.acquire", [{ acquired: "true", token: "positive" }, { acquired: "false" }]],
  ["lock.release", [{ released: "boolean" }]],
  ["kv.put", [{ revision: "positive" }]],
  ["kv.get", [{ entry: "entry" }]],
  ["kv.delete", [{ deleted: "boolean", revision: "nonNegative" }]],
  ["counter.add", [{ value: "safeInt", revision: "positive" }]],
  ["counter.get", [{ value: "safeInt" }]],
  ["counter.set", [{ revision: "positive" }]],
  ["counter.cas", [{ ok: "boolean", value: "safeInt" }]],
  ["election.campaign", [{ elected: "true", token: "positive" }, { elected: "false" }]],
  ["election.resign", [{ resigned: "boolean" }]],
]);

const RESULT_CHECKS: Readonly<Record<ResultFieldKind, (value: unknown) => boolean>> = {
  ...FIELD_CHECKS,
  true: (value) => value === true,
  false: (value) => value === false,
  // `z.nullable(KvEntry)`: null, or { value, revision, lease? } and nothing else.
  entry: (value) => {
    if (value === null) return true;
    if (!isPlainObject(value)) return false;
    let fields = 0;
    for (const key in value) {
      const field = value[key];
      if (key === "value" ? !FIELD_CHECKS.value(field) : (key !== "revision" && key !== "lease") || !FIELD_CHECKS.positive(field)) return false;
      if (key !== "lease") fields++;
    }
    return fields === 2;
  },
};

/** Exactly the shape's keys, each within its rule. */
function hasShape(result: Record<string, unknown>, shape: Readonly<Record<string, ResultFieldKind>>): boolean {
  let fields = 0;
  for (const key in result) {
    const kind = shape[key];
    if (kind === undefined || !Object.hasOwn(shape, key) || !RESULT_CHECKS[kind](result[key])) return false;
    fields++;
  }
  return fields === SHAPE_SIZES.get(shape);
}

const SHAPE_SIZES: ReadonlyMap<object, number> = new Map([...RESULT_SHAPES.values()].flat().map((shape) => [shape, Object.keys(shape).length]));
