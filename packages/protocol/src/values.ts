import * as z from "zod/mini";
import { BOUNDS } from "./limits.js";

/** A value that can be stored: any msgpack value without extension types. */
export type Value = string | number | boolean | null | Uint8Array | Value[] | { [key: string]: Value };

export const Value: z.ZodMiniType<Value> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.instanceof(Uint8Array),
    z.array(Value),
    z.record(z.string(), Value),
  ]),
);

/** How deeply arrays and maps nest in a value, counted without recursion (input is untrusted). */
export function valueDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== "object" || item === null || item instanceof Uint8Array) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > BOUNDS.maxValueDepth) return deepest;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** A value as stored: at most `BOUNDS.maxValueDepth` levels of arrays and maps. */
export const StoredValue = Value.check(
  z.refine((value) => valueDepth(value) <= BOUNDS.maxValueDepth, { message: `values may nest arrays and maps at most ${BOUNDS.maxValueDepth} deep` }),
);

/** A lock, key, counter, semaphore or election name. */
export const Name = z.string().check(utf16Length(1, BOUNDS.maxNameLength));
/** A key prefix; the empty prefix means "everything". */
export const Prefix = z.string().check(utf16Length(0, BOUNDS.maxNameLength));
/** A positive safe integer: request ids, lease ids, tokens, revisions. */
export const PositiveInt = z.int().check(z.minimum(1), z.maximum(Number.MAX_SAFE_INTEGER));
export const NonNegativeInt = z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));
/** A safe integer of either sign: counter values and deltas. */
export const SafeInt = z.int().check(z.minimum(Number.MIN_SAFE_INTEGER), z.maximum(Number.MAX_SAFE_INTEGER));
/** A duration in milliseconds that a timer can hold. */
export const Millis = z.int().check(z.minimum(0), z.maximum(BOUNDS.maxDelayMs));
export const RequestId = PositiveInt;
export const LeaseId = PositiveInt;
export const Token = PositiveInt;
export const Revision = NonNegativeInt;

/**
 * A string's length in UTF-16 code units (`String.length`), the measure BOUNDS and PROTOCOL.md use and
 * the one every language can count the same way. zod's own length checks count code points, which
 * let a name of 512 emoji (1,024 units) through. Issues are zod's `too_small`/`too_big`, which the
 * codec answers with OUT_OF_RANGE.
 */
export function utf16Length(min: number, max: number) {
  return z.check<string>((payload) => {
    const units = payload.value.length;
    if (units > max) payload.issues.push({ code: "too_big", origin: "string", maximum: max, inclusive: true, input: payload.value, message: `at most ${max} UTF-16 code units, not ${units}` });
    else if (units < min) payload.issues.push({ code: "too_small", origin: "string", minimum: min, inclusive: true, input: payload.value, message: `at least ${min} UTF-16 code units, not ${units}` });
  });
}
