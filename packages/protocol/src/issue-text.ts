import type * as z from "zod/mini";

/**
 * What is wrong with a message, in the protocol's terms: the field's path, what the spec expects
 * there and what came instead (`ttl: expected an integer, got a string`), never the schema library's
 * own wording ("Invalid input: expected number, received string"), which changes with its versions,
 * and which zod/mini does not even ship to browsers. A client author reads these in `error.message`.
 */

/** Longest piece of a received value (an op name, a map key, a string) quoted in an error text. */
export const MAX_QUOTED = 64;
/** How many issues one error names, and its longest text. */
const MAX_ISSUES = 3;
const MAX_SUMMARY = 512;

/**
 * At most three issues of `value`, each `path: problem`. A path holds received map keys: each is cut
 * to `MAX_QUOTED` characters, and the whole to `MAX_SUMMARY`, so that no text grows with what was sent.
 */
export function describeIssues(value: unknown, issues: readonly z.core.$ZodIssue[]): string {
  const text = issues
    .slice(0, MAX_ISSUES)
    .map((issue) => `${issue.path.length > 0 ? issue.path.slice(0, 8).map(pathElement).join(".") : "message"}: ${describeIssue(issue, valueAt(value, issue.path))}`)
    .join("; ");
  return text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY)}...` : text;
}

/** One issue, given the value it is about (`undefined`: the field is missing). */
function describeIssue(issue: z.core.$ZodIssue, received: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      return received === undefined ? `missing, expected ${expectedType(issue.expected)}` : `expected ${expectedType(issue.expected)}, got ${kindOf(received)}`;
    case "invalid_value":
      return `expected ${issue.values.map(quote).join(" or ")}, got ${received === undefined ? "nothing" : kindOf(received)}`;
    case "too_small":
    case "too_big":
      return bound(issue, received);
    case "invalid_union":
      return union(issue, received);
    case "invalid_format":
      return `expected a string in the ${issue.format} format`;
    case "not_multiple_of":
      return `expected a multiple of ${String(issue.divisor)}`;
    case "unrecognized_keys":
      return `unknown keys ${issue.keys.slice(0, MAX_ISSUES).map(quote).join(", ")}`;
    case "invalid_key":
      return "a map key is not what the spec allows here";
    case "invalid_element":
      return "an element is not what the spec allows here";
    case "custom":
      // Our own checks (values.ts) word their messages in the protocol's terms.
      return issue.message;
  }
}

/** A number, string or list out of its range; our own length checks (UTF-16 code units) keep their words. */
function bound(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, received: unknown): string {
  const small = issue.code === "too_small";
  const limit = Number(small ? issue.minimum : issue.maximum);
  const exclusive = issue.inclusive === false;
  switch (issue.origin) {
    case "number":
    case "int":
    case "bigint":
      return `expected ${small ? (exclusive ? "more than" : "at least") : exclusive ? "less than" : "at most"} ${limit}, got ${kindOf(received)}`;
    case "string":
      return issue.message.startsWith("at ") ? `expected ${issue.message}` : `expected ${small ? "at least" : "at most"} ${limit} characters`;
    default:
      return `expected ${small ? "at least" : "at most"} ${limit} items`;
  }
}

/**
 * A value that is none of a union's branches (`wait`: `true` or a number of ms). A branch that got the
 * type right but not the range says the most; otherwise every branch's expectation is listed.
 */
function union(issue: z.core.$ZodIssueInvalidUnion, received: unknown): string {
  const branches = issue.errors.map((branch) => branch[0]).filter((first) => first !== undefined);
  const ranged = branches.find((first) => first.code === "too_small" || first.code === "too_big");
  if (ranged !== undefined) return describeIssue(ranged, received);
  const expected = branches.map((first) => (first.code === "invalid_value" ? first.values.map(quote).join(" or ") : first.code === "invalid_type" ? expectedType(first.expected) : undefined));
  if (expected.length === 0 || expected.includes(undefined)) return `not a value the spec allows here (got ${kindOf(received)})`;
  return `expected ${[...new Set(expected)].join(" or ")}, got ${kindOf(received)}`;
}

/** The spec's name for a type zod expected. */
function expectedType(expected: string): string {
  switch (expected) {
    case "int":
      return "an integer";
    case "number":
      return "a number";
    case "string":
      return "a string";
    case "boolean":
      return "a boolean";
    case "object":
    case "record":
    case "map":
      return "a map";
    case "array":
    case "tuple":
      return "an array";
    case "null":
      return "nil";
    default:
      return `a value of type ${expected}`;
  }
}

/** What came, as a client author would name it in msgpack terms; short values quoted, bounded. */
function kindOf(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "nil";
  if (typeof value === "number") return Number.isInteger(value) ? `the integer ${value}` : `the float ${value}`;
  if (typeof value === "string") return `the string ${quote(value)}`;
  if (typeof value === "boolean") return String(value);
  if (value instanceof Uint8Array) return `binary (${value.length} bytes)`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return "a map";
  return typeof value;
}

function quote(value: unknown): string {
  if (typeof value !== "string") return String(value);
  return JSON.stringify(value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}...` : value);
}

function pathElement(key: PropertyKey): string {
  const text = String(key);
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}...` : text;
}

/** The received value at an issue's path, or undefined when the path leaves the value. */
function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== "object" || at === null || at instanceof Uint8Array) return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}
