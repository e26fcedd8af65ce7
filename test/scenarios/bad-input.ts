import { BadRequestError, ConflictError, ErrorCode, LimitExceededError, LeaseNotFoundError, type LeaseholdClient } from "@leasehold/client";
import { BOUNDS, CloseCode, type Value } from "@leasehold/protocol";
import { describe, expect, test } from "vitest";
import { harnessFor } from "../shared-state/fixtures/harness.js";
import { inspectOver } from "../support/inspect.js";
import { Raw } from "../support/raw.js";
import type { Target } from "../support/target.js";

/**
 * The frame limit of the target these scenarios run against (`singleServerWith({ limits: { maxFrameBytes } })`,
 * `--max-frame` for a cluster's gateways): small, so that a value over it is cheap to send.
 */
export const BAD_INPUT_MAX_FRAME_BYTES = 8 * 1024;

/**
 * Bad input gets coded errors and changes nothing: test/shared-state/bad-input.test.ts runs these against one
 * server, test/cluster/e2e-bad-input.test.ts against a cluster through a follower (the follower passes the frames
 * as they are; the leader refuses them). "Changes nothing" is read over the wire on the test's own names, and as
 * the revision not moving: a cluster is shared by the file's tests, which run one after the other and whose
 * clients end their sessions (bye) before the next test starts, so nothing else writes meanwhile.
 */
export function describeBadInput(target: Target): void {
  const harness = harnessFor(target);
  describe(`bad input gets coded errors and changes nothing (${target.name})`, () => {
    test("values the wire cannot carry are refused by the client before sending", async () => {
      const server = await harness.server();
      const client = await harness.client(server);
      const revision = (await inspectOver(server.url)).revision;
      let deep: unknown = "bottom";
      for (let depth = 0; depth < 100; depth++) deep = { deeper: deep };
      const bad: unknown[] = [new Date(), new Map([["a", 1]]), new (class Point {})(), Number.NaN, Number.POSITIVE_INFINITY, () => 1, undefined, 10n, Symbol("s"), [1, undefined], { nested: [new Set()] }, deep];
      for (const value of bad) {
        const error = await rejection(client.put("values/k", value as never));
        expect(error, String(value)).toBeInstanceOf(BadRequestError);
        expect(error.code).toBe(ErrorCode.BAD_REQUEST);
      }
      await expect(client.elections.campaign("values/e", 1, { value: new Date() as never })).rejects.toBeInstanceOf(BadRequestError);
      // What the wire does carry comes back as it went.
      // An undefined property is left out, as JSON does (the Value type does not admit it; plain JS callers may pass it).
      const good = { s: "x", n: -1.5, b: false, z: null, bytes: new Uint8Array([1, 2, 3]), list: [1, "two", [3]], nested: { a: { b: {} } }, skipped: undefined } as unknown as Value;
      await client.put("values/k", good);
      expect((await client.get("values/k"))?.value).toEqual({ s: "x", n: -1.5, b: false, z: null, bytes: new Uint8Array([1, 2, 3]), list: [1, "two", [3]], nested: { a: { b: {} } } });
      expect((await inspectOver(server.url)).revision).toBe(revision + 1);
    });

    test("the server refuses wrong value types from any client with BAD_REQUEST", async () => {
      // (Values nested too deep to check are swept in test/bad-input.test.ts.)
      const server = await harness.server();
      const client = await harness.client(server);
      const revision = (await inspectOver(server.url)).revision;
      const raw = await Raw.open(server.url);
      await raw.hello();
      expect(await raw.request({ op: "counter.add", name: "types/c", delta: 0.5 })).toMatchObject({ type: "error", code: ErrorCode.BAD_REQUEST });
      expect(await raw.request({ op: "kv.put", key: "types/k", value: 1, ifRevision: -1 })).toMatchObject({ type: "error", code: ErrorCode.OUT_OF_RANGE });
      // A Date travels as msgpack's timestamp extension: not plain msgpack, so the frame is refused and the connection closed.
      raw.fire({ op: "kv.put", key: "types/k", value: new Date() });
      expect((await raw.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
      expect(raw.errorsBeforeClose().at(-1)).toMatchObject({ code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/extension type/) });
      await unchanged(client, server.url, revision, "types/");
      expect(await client.counters.get("types/c")).toBe(0);
      await client.put("types/still", "serving");
      expect(await client.get("types/still")).toMatchObject({ value: "serving" });
    });

    test(`names over ${BOUNDS.maxNameLength} UTF-16 code units are OUT_OF_RANGE`, async () => {
      const server = await harness.server();
      const client = await harness.client(server);
      const revision = (await inspectOver(server.url)).revision;
      const long = "k".repeat(BOUNDS.maxNameLength + 1);
      for (const attempt of [client.put(long, 1), client.get(long), client.delete(long), client.list(long), client.counters.increment(long), client.elections.leader(long)]) {
        const error = await rejection(attempt);
        expect(error).toBeInstanceOf(BadRequestError);
        expect(error.code).toBe(ErrorCode.OUT_OF_RANGE);
      }
      await expect(client.put("", 1)).rejects.toMatchObject({ code: ErrorCode.OUT_OF_RANGE });
      // Lengths are UTF-16 code units: an emoji is two of them, though one code point.
      const emoji = "😀".repeat(BOUNDS.maxNameLength / 2);
      await expect(client.put(`${emoji}😀`, 1)).rejects.toMatchObject({ code: ErrorCode.OUT_OF_RANGE });
      expect((await inspectOver(server.url)).revision).toBe(revision);
      await client.put("k".repeat(BOUNDS.maxNameLength), 1);
      await client.put(emoji, 1);
      expect(await client.get("k".repeat(BOUNDS.maxNameLength))).toMatchObject({ value: 1 });
      expect(await client.get(emoji)).toMatchObject({ value: 1 });
      expect((await inspectOver(server.url)).revision).toBe(revision + 2);
    });

    test("a value larger than the server's frame limit is LIMIT_EXCEEDED, and the connection stays usable", async () => {
      const server = await harness.server();
      const client = await harness.client(server);
      const revision = (await inspectOver(server.url)).revision;
      const error = await rejection(client.put("frame/big", "x".repeat(BAD_INPUT_MAX_FRAME_BYTES + 1024)));
      expect(error).toBeInstanceOf(LimitExceededError);
      expect(error.code).toBe(ErrorCode.LIMIT_EXCEEDED);
      await expect(client.put("frame/big", new Uint8Array(2 * BAD_INPUT_MAX_FRAME_BYTES))).rejects.toBeInstanceOf(LimitExceededError);
      await unchanged(client, server.url, revision, "frame/");
      expect(client.connected).toBe(true);
      await client.put("frame/small", "x".repeat(BAD_INPUT_MAX_FRAME_BYTES / 2));
      expect(await client.get("frame/big")).toBeNull();
    });

    test("counters never leave the safe-integer range: COUNTER_OVERFLOW, and the value is unchanged", async () => {
      const server = await harness.server();
      const client = await harness.client(server);
      await client.counters.set("range/c", Number.MAX_SAFE_INTEGER - 1);
      const revision = (await inspectOver(server.url)).revision;
      const overflow = await rejection(client.counters.increment("range/c", 2));
      expect(overflow).toBeInstanceOf(ConflictError);
      expect(overflow.code).toBe(ErrorCode.COUNTER_OVERFLOW);
      expect(await client.counters.increment("range/c", 1)).toBe(Number.MAX_SAFE_INTEGER);
      await client.counters.set("range/d", Number.MIN_SAFE_INTEGER);
      const after = (await inspectOver(server.url)).revision;
      await expect(client.counters.decrement("range/d")).rejects.toMatchObject({ code: ErrorCode.COUNTER_OVERFLOW });
      await expect(client.counters.increment("range/c", Number.MIN_SAFE_INTEGER - 10)).rejects.toMatchObject({ code: ErrorCode.OUT_OF_RANGE });
      await expect(client.counters.set("range/c", 2 ** 53)).rejects.toMatchObject({ code: ErrorCode.OUT_OF_RANGE });
      await expect(client.counters.set("range/c", 1.5)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
      await expect(client.counters.compareAndSet("range/c", Number.MAX_SAFE_INTEGER, Number.NaN)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
      expect(await client.counters.get("range/c")).toBe(Number.MAX_SAFE_INTEGER);
      expect(await client.counters.get("range/d")).toBe(Number.MIN_SAFE_INTEGER);
      expect((await inspectOver(server.url)).revision).toBe(after);
      expect(after).toBe(revision + 2);
    });

    test("a refused write leaves no trace: not written, not bound to the lease, no revision, no watch event", async () => {
      const server = await harness.server();
      const [owner, other] = (await harness.clients(server, 2)) as [LeaseholdClient, LeaseholdClient];
      const lease = await owner.leases.grant(5_000);
      const lock = await owner.locks.acquire("trace/lock", lease.id);
      await owner.locks.acquire("trace/lock:other", lease.id);
      const watch = other.watch("trace/");
      await watch.ready;
      const revision = (await inspectOver(server.url)).revision;

      // Someone else's lease, a lease that does not exist, a stale fence, a failed compare: each refused whole.
      expect(await rejection(other.put("trace/k", 1, { lease: lease.id }))).toMatchObject({ code: ErrorCode.LEASE_NOT_OWNED });
      expect(await rejection(other.put("trace/k", 1, { lease: 999_999 }))).toBeInstanceOf(LeaseNotFoundError);
      expect(await rejection(owner.put("trace/k", 1, { lease: lease.id, fence: { lock: "trace/lock", token: lock.token! + 100 } }))).toMatchObject({
        code: ErrorCode.FENCE_FAILED,
      });
      expect(await rejection(owner.put("trace/k", 1, { lease: lease.id, ifRevision: 5 }))).toMatchObject({ code: ErrorCode.REVISION_MISMATCH });
      expect(await rejection(owner.delete("trace/k", { fence: { lock: "trace/lock", token: lock.token! + 1 } }))).toMatchObject({ code: ErrorCode.FENCE_FAILED });
      expect(await rejection(other.watch("trace/", { fromRevision: revision + 5 }).ready)).toMatchObject({ code: ErrorCode.OUT_OF_RANGE });

      const state = await inspectOver(server.url);
      expect(state.revision).toBe(revision);
      expect(await other.list("trace/")).toEqual([]);
      expect(state.leases.find((each) => each.lease === lease.id)?.keys).toBe(0);
      // The next change is the first event the watch sees.
      const written = await other.put("trace/marker", 1);
      const first = await watch[Symbol.asyncIterator]().next();
      expect(first.value).toMatchObject({ key: "trace/marker", revision: written.revision });
      watch.close();
    });
  });
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string } & Error> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: Error) => error,
  );
}

/** Asserts that nothing moved: the same revision, and no key under the test's `prefix`. */
async function unchanged(client: LeaseholdClient, url: string, revision: number, prefix: string): Promise<void> {
  expect((await inspectOver(url)).revision).toBe(revision);
  expect(await client.list(prefix)).toEqual([]);
}
