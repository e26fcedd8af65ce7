import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import type { RequestOp } from "./client-messages.js";
import { decode, encode } from "./codec.js";
import { BOUNDS } from "./limits.js";
import { RESULT_SHAPES, acceptCommonResult } from "./result-fast-path.js";
import { Results } from "./server-messages.js";

/** Well-formed results of each op the fast path knows, each alternative and optional field given. */
const WELL_FORMED: [RequestOp, Record<string, unknown>][] = [
  ["cancel", { cancelled: true }],
  ["lease.grant", { lease: 3, ttl: 5_000, keepAlive: true }],
  ["lease.renew", { ttl: 5_000 }],
  ["lease.revoke", {}],
  ["lock.acquire", { acquired: true, token: 9 }],
  ["lock.acquire", { acquired: false }],
  ["lock.release", { released: false }],
  ["kv.put", { revision: 12 }],
  ["kv.get", { entry: { value: { a: [1, "b", null] }, revision: 4, lease: 2 } }],
  ["kv.get", { entry: { value: "v", revision: 4 } }],
  ["kv.get", { entry: null }],
  ["kv.delete", { deleted: true, revision: 0 }],
  ["counter.add", { value: -5, revision: 2 }],
  ["counter.get", { value: 7 }],
  ["counter.set", { revision: 2 }],
  ["counter.cas", { ok: false, value: 7 }],
  ["election.campaign", { elected: true, token: 9 }],
  ["election.campaign", { elected: false }],
  ["election.resign", { resigned: true }],
];

/** Values of every kind and edge, right and wrong for some field or other. */
const CANDIDATES: unknown[] = [
  undefined, // the field left out
  null, true, false, 0, -0, 1, -1, 2.5, BOUNDS.maxDelayMs, BOUNDS.maxDelayMs + 1,
  Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY,
  "", "v", [], [1], {}, { a: 1 }, Uint8Array.of(1, 2),
  { value: "v", revision: 1 }, { value: "v", revision: 0 }, { value: "v" }, { revision: 1 }, { value: "v", revision: 1, lease: 0 },
  { value: "v", revision: 1, lease: 2, extra: 1 }, { value: new Date(0), revision: 1 },
];

/** Each result as the client sees it: encoded by our codec and decoded by msgpackr. */
function asReceived(result: Record<string, unknown>): Record<string, unknown> {
  return decode(encode(result)) as Record<string, unknown>;
}

/** Every well-formed result with one field changed (or removed, or one unknown field added) to every candidate, with its label (written only when a check fails). */
function* variants(): Generator<[() => string, RequestOp, Record<string, unknown>]> {
  for (const [op, base] of WELL_FORMED) {
    yield [() => `${op} as is`, op, asReceived(base)];
    for (const field of [...Object.keys(base), "extra"]) {
      for (const candidate of CANDIDATES) {
        const changed = { ...base };
        if (candidate === undefined) delete changed[field];
        else changed[field] = candidate;
        yield [() => `${op} with ${field} = ${String(candidate)}`, op, asReceived(changed)];
      }
    }
  }
}

describe("the fast path of result validation", () => {
  it("accepts the well-formed common results (otherwise it would only cost time)", () => {
    for (const [op, result] of WELL_FORMED) expect(acceptCommonResult(op, asReceived(result)), `${op} ${JSON.stringify(result)}`).toBe(true);
  });

  it("accepts nothing the schema refuses, and only what the schema returns as it is", () => {
    let accepted = 0;
    let checked = 0;
    for (const [label, op, received] of variants()) {
      checked++;
      if (!acceptCommonResult(op, received)) continue;
      accepted++;
      const parsed = Results[op].safeParse(received);
      // Node's deep equality first; vitest's matchers (and their diff) for a mismatch only.
      if (parsed.success && isDeepStrictEqual(received, parsed.data)) continue;
      expect(parsed.success, label()).toBe(true);
      expect(received, label()).toStrictEqual(parsed.data);
    }
    // Both sides of the decision were exercised.
    expect(accepted).toBeGreaterThan(40);
    expect(checked - accepted).toBeGreaterThan(500);
  });

  it("knows no op the schemas lack, and each shape has exactly the keys of one of its schema's alternatives", () => {
    for (const [op, shapes] of RESULT_SHAPES) {
      expect(Results[op], op).toBeDefined();
      const alternatives = keySets(Results[op]);
      for (const shape of shapes) expect(alternatives, op).toContainEqual(Object.keys(shape).sort());
    }
  });
});

/** The key sets of an object schema, or of each object in a union of them. */
function keySets(schema: unknown): string[][] {
  const def = (schema as { def: { type: string; shape?: Record<string, unknown>; options?: unknown[] } }).def;
  if (def.type === "union") return (def.options ?? []).flatMap(keySets);
  return [Object.keys(def.shape ?? {}).sort()];
}
