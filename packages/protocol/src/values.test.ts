import { describe, expect, it } from "vitest";
import { BOUNDS } from "./limits.js";
import { Millis, Name, PositiveInt, Prefix, SafeInt, Value, storedValueProblem } from "./values.js";

/** `depth` levels of arrays and maps, alternating, around `inner`. */
function nest(depth: number, inner: unknown = "bottom"): unknown {
  let value = inner;
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { deeper: value };
  return value;
}

describe("storedValueProblem", () => {
  it("accepts every kind of value that msgpack carries and brings back as sent", () => {
    const good: unknown[] = [
      "text",
      "",
      0,
      -1.5,
      Number.MAX_SAFE_INTEGER,
      true,
      null,
      new Uint8Array([1, 2]),
      Buffer.from("node's Buffer is a Uint8Array"),
      [],
      {},
      { list: [1, "two", [3]], nested: { a: { b: {} } } },
      Object.assign(Object.create(null) as object, { bare: 1 }),
      nest(BOUNDS.maxValueDepth),
    ];
    for (const [index, value] of good.entries()) expect(storedValueProblem(value), `good[${index}]`).toBeUndefined();
  });

  // [case, value, the problem named]
  const bad: [string, unknown, RegExp][] = [
    ["NaN", Number.NaN, /^value is NaN; numbers must be finite$/],
    ["Infinity in a list", [1, Number.POSITIVE_INFINITY], /^value\[1\] is Infinity; numbers must be finite$/],
    ["a Date", { at: new Date(0) }, /^value\.at is a Date; only plain objects, arrays and Uint8Arrays are stored$/],
    ["a Map", new Map([["a", 1]]), /^value is a Map;/],
    ["a class instance", { list: [new (class Point {})()] }, /^value\.list\[0\] is a Point;/],
    ["another typed array", new Float32Array(2), /^value is a Float32Array;/],
    ["undefined at the top", undefined, /^value is undefined; it has no msgpack form$/],
    ["undefined in an array (no property to leave out)", [1, undefined], /^value\[1\] is undefined;/],
    ["a function", { run: () => 1 }, /^value\.run is a function; it has no msgpack form$/],
    ["a bigint", 10n, /^value is a bigint;/],
    ["a symbol", Symbol("s"), /^value is a symbol;/],
    ["one level too deep", nest(BOUNDS.maxValueDepth + 1), new RegExp(`is nested deeper than ${BOUNDS.maxValueDepth} levels of arrays and maps$`)],
  ];
  for (const [label, value, problem] of bad) {
    it(`refuses ${label}`, () => {
      expect(storedValueProblem(value)).toMatch(problem);
    });
  }

  it("leaves out an object property holding undefined, as msgpack's encoder here and JSON do", () => {
    expect(storedValueProblem({ kept: 1, skipped: undefined })).toBeUndefined();
  });

  it("names the first problem in the value's own order", () => {
    expect(storedValueProblem({ a: [1, { b: Number.NaN }], c: new Date(0), d: undefined })).toBe("value.a[1].b is NaN; numbers must be finite");
    expect(storedValueProblem([new Set(), Number.NaN])).toMatch(/^value\[0\] is a Set/);
  });

  it("cuts long keys in the path, so that the text does not grow with what was sent", () => {
    const key = "k".repeat(20_000);
    const problem = storedValueProblem({ [key]: { [key]: Number.NaN } });
    expect(problem).toBe(`value.${"k".repeat(64)}....${"k".repeat(64)}... is NaN; numbers must be finite`);
  });
});

describe("Value", () => {
  it("is the stored-value check as a schema: the same value passes, the same problem is its issue", () => {
    const good = { list: [1, "two"], bytes: new Uint8Array([3]) };
    expect(Value.safeParse(good)).toEqual({ success: true, data: good });
    const refused = Value.safeParse({ when: new Date(0) });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues).toMatchObject([{ code: "custom", message: storedValueProblem({ when: new Date(0) }) }]);
    expect(Value.safeParse(nest(BOUNDS.maxValueDepth + 1)).success).toBe(false);
  });
});

describe("names and numbers", () => {
  it(`bounds names at 1 to ${BOUNDS.maxNameLength} UTF-16 code units, prefixes at 0 to ${BOUNDS.maxNameLength}`, () => {
    const longest = "😀".repeat(BOUNDS.maxNameLength / 2);
    expect(longest.length).toBe(BOUNDS.maxNameLength);
    // [schema, name, accepted, issue]
    const cases: [typeof Name, string, boolean, string | undefined][] = [
      [Name, "", false, "too_small"],
      [Name, "a", true, undefined],
      [Name, longest, true, undefined],
      [Name, `${longest}a`, false, "too_big"],
      // One code point more, two code units: zod's own length checks count code points and let it through.
      [Name, `${longest.slice(2)}😀😀`, false, "too_big"],
      [Prefix, "", true, undefined],
      [Prefix, longest, true, undefined],
      [Prefix, `${longest}a`, false, "too_big"],
    ];
    for (const [schema, name, accepted, issue] of cases) {
      const parsed = schema.safeParse(name);
      expect(parsed.success, `${schema === Name ? "name" : "prefix"} of ${name.length} units`).toBe(accepted);
      if (issue !== undefined) expect(parsed.error?.issues[0]?.code).toBe(issue);
    }
  });

  it("bounds integers to the safe range and durations to what a timer holds", () => {
    // [schema, value, accepted]
    const cases: [typeof Millis, number, boolean][] = [
      [PositiveInt, 0, false],
      [PositiveInt, 1, true],
      [PositiveInt, Number.MAX_SAFE_INTEGER, true],
      [PositiveInt, Number.MAX_SAFE_INTEGER + 1, false],
      [PositiveInt, 1.5, false],
      [SafeInt, Number.MIN_SAFE_INTEGER, true],
      [SafeInt, Number.MIN_SAFE_INTEGER - 1, false],
      [Millis, 0, true],
      [Millis, BOUNDS.maxDelayMs, true],
      [Millis, BOUNDS.maxDelayMs + 1, false],
    ];
    for (const [schema, value, accepted] of cases) expect(schema.safeParse(value).success, String(value)).toBe(accepted);
  });
});
