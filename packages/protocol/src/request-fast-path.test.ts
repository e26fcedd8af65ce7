import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { ClientMessage } from "./client-messages.js";
import { decode, decodeClientMessage, encode } from "./codec.js";
import { BOUNDS } from "./limits.js";
import { FAST_OPS, acceptCommonRequest } from "./request-fast-path.js";

/** One well-formed message of each op the fast path knows, every optional field given. */
const WELL_FORMED: Record<string, Record<string, unknown>> = {
  pong: { op: "pong", seq: 0 },
  cancel: { op: "cancel", id: 7, target: 3 },
  "lease.grant": { op: "lease.grant", id: 7, ttl: 5_000, keepAlive: true },
  "lease.renew": { op: "lease.renew", id: 7, lease: 2 },
  "lease.revoke": { op: "lease.revoke", id: 7, lease: 2 },
  "lock.acquire": { op: "lock.acquire", id: 7, name: "n", lease: 2, wait: 100, mode: "shared", limit: 3, steal: false, lockDelay: 10 },
  "lock.release": { op: "lock.release", id: 7, name: "n", token: 4 },
  "kv.put": { op: "kv.put", id: 7, key: "k", value: { a: [1, "b", null] }, lease: 2, ifRevision: 0, fence: { lock: "n", token: 4 } },
  "kv.get": { op: "kv.get", id: 7, key: "k" },
  "kv.delete": { op: "kv.delete", id: 7, key: "k", ifRevision: 3, fence: { lock: "n", token: 4 } },
  "counter.add": { op: "counter.add", id: 7, name: "c", delta: -5 },
  "counter.get": { op: "counter.get", id: 7, name: "c" },
  "counter.set": { op: "counter.set", id: 7, name: "c", value: 9 },
};

/** Values of every kind and edge, right and wrong for some field or other. */
const CANDIDATES: unknown[] = [
  undefined, // the field left out
  null, true, false, 0, -0, 1, -1, 2.5, 1_000_000, 1_000_001, BOUNDS.maxDelayMs, BOUNDS.maxDelayMs + 1,
  Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY,
  "", "n", "k".repeat(BOUNDS.maxNameLength), "k".repeat(BOUNDS.maxNameLength + 1), "exclusive", "shared", "7",
  [], [1], {}, { a: 1 }, Uint8Array.of(1, 2),
  { lock: "n", token: 4 }, { lock: "n" }, { lock: "", token: 4 }, { lock: "n", token: 0 }, { lock: "n", token: 4, extra: 1 },
];

/** Each message as the server sees it: encoded by our codec and decoded by msgpackr. */
function asReceived(message: Record<string, unknown>): unknown {
  return decode(encode(message));
}

/**
 * Every well-formed message with one field changed (or removed, or one unknown field added) to every candidate,
 * with its label (written only when a check fails: some 3,000 variants).
 */
function* variants(): Generator<[() => string, unknown]> {
  for (const [op, base] of Object.entries(WELL_FORMED)) {
    yield [() => `${op} as is`, asReceived(base)];
    for (const field of [...Object.keys(base), "extra"]) {
      for (const candidate of CANDIDATES) {
        const changed = { ...base };
        if (candidate === undefined) delete changed[field];
        else changed[field] = candidate;
        yield [() => `${op} with ${field} = ${String(candidate)}`, asReceived(changed)];
      }
    }
  }
}

describe("the fast path of request validation", () => {
  it("accepts the well-formed common requests (otherwise it would only cost time)", () => {
    for (const [op, message] of Object.entries(WELL_FORMED)) expect(acceptCommonRequest(asReceived(message)), op).toBeDefined();
    // The minimal forms too: only the required fields.
    expect(acceptCommonRequest(asReceived({ op: "lock.acquire", id: 1, name: "n", lease: 1 }))).toBeDefined();
    expect(acceptCommonRequest(asReceived({ op: "kv.put", id: 1, key: "k", value: "v" }))).toBeDefined();
  });

  it("accepts nothing the schema refuses, and returns what the schema returns", () => {
    let accepted = 0;
    let checked = 0;
    for (const [label, received] of variants()) {
      checked++;
      const fast = acceptCommonRequest(received);
      if (fast === undefined) continue;
      accepted++;
      const parsed = ClientMessage.safeParse(received);
      // Node's deep equality first; vitest's matchers (and their diff) for a mismatch only.
      if (parsed.success && isDeepStrictEqual(fast, parsed.data)) continue;
      expect(parsed.success, label()).toBe(true);
      expect(fast, label()).toStrictEqual(parsed.data);
    }
    // Both sides of the decision were exercised.
    expect(accepted).toBeGreaterThan(100);
    expect(checked - accepted).toBeGreaterThan(1_000);
  });

  it("knows no op or field the schema lacks", () => {
    const shapes = new Map(ClientMessage.def.options.map((option) => [option.shape.op.def.values[0] as string, Object.keys(option.shape)]));
    for (const [op, fields] of FAST_OPS) {
      const shape = shapes.get(op);
      expect(shape, op).toBeDefined();
      for (const field of Object.keys(fields)) expect(shape, `${op}.${field}`).toContain(field);
    }
  });

  it("leaves refusals to the schema: same codes and texts through decodeClientMessage", () => {
    // A field the fast path refuses falls through to zod, which words the refusal.
    const refused = decodeClientMessage(encode({ op: "lock.acquire", id: 5, name: "n", lease: 1, wait: BOUNDS.maxDelayMs + 1 }));
    expect(refused).toMatchObject({ ok: false, fatal: false, id: 5 });
    // An unknown field is stripped by the schema, as before: the request is taken without it.
    const stripped = decodeClientMessage(encode({ op: "kv.get", id: 5, key: "k", extra: 1 }));
    expect(stripped).toStrictEqual({ ok: true, message: { op: "kv.get", id: 5, key: "k" } });
  });
});
