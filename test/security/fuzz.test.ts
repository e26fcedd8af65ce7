import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type LeaseholdClient } from "@leasehold/client";
import { CloseCode, PROTOCOL_VERSION, encode, type ResultOf, type ServerMessage, type Value } from "@leasehold/protocol";
import { createServer, type LeaseholdServer } from "@leasehold/server";
import { Raw } from "../support/raw.js";
import { STATIC_TOKENS, TOKENS, mintJwt } from "../support/security.js";
import { inspectIn, inspectOver } from "../support/inspect.js";

/**
 * Property-based fuzzing of a running server on real sockets. Two properties:
 *
 * 1. Random and mutated frames (random bytes, text, arbitrary msgpack, valid requests with fields
 *    deleted or retyped, truncated frames, deep nesting, oversized frames), sent with or without a
 *    handshake and with good, bad and random credentials. Afterwards: every frame the server sent
 *    decodes with `decodeServerMessage`, every close code is a documented one, and the server still
 *    serves a client that was connected all along.
 * 2. Random sequences of valid operations from four sessions of three principals at once (locks,
 *    shared locks, semaphores, keys with fences and compare-and-set, counters, elections, watches,
 *    leases, cancels, admin force-release). After every message any session receives: no lock has
 *    two exclusive holders (or an exclusive beside shared ones), no semaphore more holders than its
 *    limit, no election two leaders, no holder under an ended lease; per connection, every new token
 *    and revision is larger than the one before, and no token is handed out twice. After the run:
 *    counters replayed in revision order give every value the server returned and the final one,
 *    and every key holds the value of its latest write.
 *
 * `FUZZ_RUNS` sets the number of runs of each property (default 60, a few seconds: well within CI's time); for a
 * longer search: `FUZZ_RUNS=2000 npx vitest run test/security/fuzz.test.ts`. A failure prints the
 * seed and the shrunk counterexample; `FUZZ_SEED=<seed>` replays it.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** The bounded pass in `vitest run` stops early rather than run past 25 s per property; a run asked for by FUZZ_RUNS goes to the end. */
const TIME_LIMIT_MS = process.env.FUZZ_RUNS === undefined ? 25_000 : undefined;
const TEST_TIMEOUT_MS = TIME_LIMIT_MS === undefined ? RUNS * 2_000 + 60_000 : 60_000;
const MAX_FRAME = 8 * 1024;
const DOCUMENTED_CLOSES = new Set<number>(Object.values(CloseCode));
const secret = randomBytes(32);

let server: LeaseholdServer;
let sentinel: LeaseholdClient;
let run = 0;

beforeAll(async () => {
  server = await createServer({
    host: "127.0.0.1",
    port: 0,
    handshakeTimeoutMs: 2_000,
    limits: { minTtlMs: 100, maxFrameBytes: MAX_FRAME, maxWaitersPerLock: 20, maxLeasesPerSession: 8 },
    auth: { tokens: STATIC_TOKENS, jwt: { secret } },
  });
  sentinel = await connect(server.url, { auth: TOKENS.tenantA, agent: "sentinel" });
});
afterAll(async () => {
  await sentinel?.close();
  await server?.close();
});

/** A raw connection whose every message, as it arrives, goes to `onMessage`. */
async function openPeer(onMessage: (message: ServerMessage, peer: Raw) => void = () => {}): Promise<Raw> {
  const peer = await Raw.open(server.url);
  peer.onMessage((message) => onMessage(message, peer));
  return peer;
}

async function serverStillServes(): Promise<void> {
  const before = await sentinel.counters.get("tenant-a/alive");
  expect(await sentinel.counters.increment("tenant-a/alive")).toBe(before + 1);
}

// Property 1: random and mutated frames

/** Valid requests of every kind, as templates for mutation. */
const validRequest = fc.oneof(
  fc.record({ op: fc.constant("lease.grant"), ttl: fc.integer({ min: 100, max: 5_000 }) }),
  fc.record({ op: fc.constant("lock.acquire"), name: fc.constant("tenant-a/f"), lease: fc.integer({ min: 1, max: 5 }), wait: fc.constantFrom(0, 5, true) }),
  fc.record({ op: fc.constant("kv.put"), key: fc.constantFrom("tenant-a/k", "tenant-b/k", ""), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ op: fc.constant("kv.list"), prefix: fc.constantFrom("", "tenant-a/") }),
  fc.record({ op: fc.constant("watch"), prefix: fc.constantFrom("", "tenant-a/"), fromRevision: fc.integer({ min: 0, max: 10 }) }),
  fc.record({ op: fc.constant("counter.add"), name: fc.constant("tenant-a/c"), delta: fc.integer() }),
  fc.record({ op: fc.constant("election.campaign"), name: fc.constant("tenant-a/e"), lease: fc.nat(5), value: fc.string() }),
  fc.record({ op: fc.constant("admin.state") }),
  fc.record({ op: fc.constant("cancel"), target: fc.nat(10) }),
  fc.record({ op: fc.constant("pong"), seq: fc.nat(5) }),
  fc.record({ op: fc.constant("bye") }),
);

const weirdValue = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.double(),
  fc.constantFrom(-1, 0, 2 ** 53, -(2 ** 60), 1.5, Number.NaN, Number.POSITIVE_INFINITY),
  fc.string({ maxLength: 600 }),
  fc.boolean(),
  fc.uint8Array({ maxLength: 16 }),
  fc.array(fc.integer(), { maxLength: 4 }),
  fc.dictionary(fc.constantFrom("op", "id", "a"), fc.integer(), { maxKeys: 3 }),
);

const mutatedRequest = fc
  .tuple(validRequest, fc.integer({ min: -3, max: 2 ** 31 }), fc.array(fc.tuple(fc.constantFrom("op", "id", "name", "key", "ttl", "lease", "prefix", "value", "wait", "extra"), fc.option(weirdValue)), { maxLength: 3 }))
  .map(([request, id, edits]) => {
    const message: Record<string, unknown> = { ...request, id };
    for (const [field, value] of edits) {
      if (value === null) delete message[field];
      else message[field] = value;
    }
    return message;
  });

function safeEncode(value: unknown): Uint8Array {
  try {
    return encode(value);
  } catch {
    return Uint8Array.of(0xc1); // never used by msgpack
  }
}

type Frame = Uint8Array | string;
const frame: fc.Arbitrary<Frame> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
  { arbitrary: fc.anything({ maxDepth: 3 }).map(safeEncode), weight: 2 },
  { arbitrary: mutatedRequest.map(safeEncode), weight: 6 },
  { arbitrary: validRequest.map((request) => safeEncode({ ...request, id: 1 })), weight: 3 },
  { arbitrary: fc.tuple(mutatedRequest, fc.nat()).map(([message, cut]) => { const bytes = safeEncode(message); return bytes.subarray(0, cut % Math.max(1, bytes.length)); }), weight: 2 },
  { arbitrary: fc.integer({ min: 60, max: 3_000 }).map((depth) => Uint8Array.from({ length: depth + 1 }, (_, i) => (i < depth ? 0x91 : 0xc0))), weight: 1 },
  { arbitrary: fc.integer({ min: MAX_FRAME + 1, max: MAX_FRAME * 2 }).map((size) => new Uint8Array(size)), weight: 1 },
);

const handshake = fc.constantFrom("none", "token", "wrong-token", "jwt", "expired-jwt", "forged-jwt", "random", "bad-version");

async function helloFor(kind: string, random: string): Promise<unknown> {
  const hello = { op: "hello", version: PROTOCOL_VERSION, agent: "fuzz" };
  switch (kind) {
    case "token":
      return { ...hello, auth: TOKENS.tenantA };
    case "wrong-token":
      return { ...hello, auth: "not-a-token-0123456789" };
    case "jwt":
      return { ...hello, auth: await mintJwt(secret, "HS256") };
    case "expired-jwt":
      return { ...hello, auth: await mintJwt(secret, "HS256", { expiresIn: Math.floor(Date.now() / 1000) - 100 }) };
    case "forged-jwt":
      return { ...hello, auth: await mintJwt(randomBytes(32), "HS256", { permissions: [{ prefix: "", allow: ["admin"] }] }) };
    case "bad-version":
      return { ...hello, version: 99, auth: TOKENS.tenantA };
    default:
      return { ...hello, auth: random };
  }
}

// Property 2: valid operations from many sessions

const KINDS = [
  "lock", "lock", "lock", "shared", "sem", "release", "release", "put", "put", "fenced-put", "cas-put", "delete", "get", "list",
  "counter.add", "counter.add", "counter.set", "counter.get", "campaign", "resign", "leader", "watch", "unwatch", "grant", "revoke", "cancel",
  "admin.release", "admin.state",
] as const;
type Kind = (typeof KINDS)[number];
interface Command { session: number; kind: Kind; name: number; x: number; flag: boolean; wait: number | true | undefined; value: Value }

const value: fc.Arbitrary<Value> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 4 }),
  fc.dictionary(fc.constantFrom("a", "b", "c"), fc.integer(), { maxKeys: 3 }),
);
const command: fc.Arbitrary<Command> = fc.record({
  session: fc.nat(3),
  kind: fc.constantFrom(...KINDS),
  name: fc.nat(3),
  x: fc.integer({ min: -2, max: 40 }),
  flag: fc.boolean(),
  wait: fc.constantFrom<number | true | undefined>(undefined, 0, 1, 5, 20, true),
  value,
});

/** Sessions 0 and 1 are tenant-a, 2 is tenant-b, 3 is the operator (every right). */
const SESSION_TOKENS = [TOKENS.tenantA, TOKENS.tenantA, TOKENS.tenantB, TOKENS.admin];

interface CounterOp { name: string; revision: number; kind: "add" | "set"; amount: number; result: number | undefined }
interface KeyOp { key: string; revision: number; value: Value | undefined }

/**
 * Checked after every message any session receives, so read in process (synchronously), through the
 * inspection that `admin.state` answers: a read over the wire would check far less often.
 */
function checkLockTables(): void {
  const state = inspectIn(server);
  const leases = new Set(state.leases.map((lease) => lease.lease));
  for (const entry of state.locks) {
    const holders = entry.holders;
    if (entry.kind === "election") expect(holders.length, `election ${entry.name}`).toBeLessThanOrEqual(1);
    else if (entry.kind === "semaphore") expect(holders.length, `semaphore ${entry.name}`).toBeLessThanOrEqual(entry.limit!);
    else if (holders.some((hold) => hold.mode === "exclusive")) expect(holders.length, `exclusive holders of ${entry.name}`).toBe(1);
    for (const hold of holders) expect(leases.has(hold.lease), `holder of ${entry.name} under an ended lease`).toBe(true);
  }
}

async function runOperations(commands: Command[]): Promise<void> {
  const tag = `${++run}`;
  const names = [`tenant-a/${tag}/n0`, `tenant-a/${tag}/n1`, `tenant-b/${tag}/n0`, `other/${tag}/n0`];
  const failures: unknown[] = [];
  const issued = new Set<number>();
  const counterOps: CounterOp[] = [];
  const keyOps: KeyOp[] = [];
  const leaseBoundKeys = new Set<string>();
  const pending = new Map<Raw, Map<number, (message: ServerMessage) => void>>();
  const lastFresh = new Map<Raw, number>();

  const fresh = (peer: Raw, n: number, what: string) => {
    const last = lastFresh.get(peer) ?? 0;
    if (n <= last) failures.push(new Error(`${what} ${n} is not larger than ${last}, seen before on the same connection`));
    lastFresh.set(peer, n);
  };
  const onMessage = (message: ServerMessage, peer: Raw) => {
    try {
      checkLockTables();
    } catch (error) {
      failures.push(error);
    }
    if ((message.type === "reply" || message.type === "error") && pending.get(peer)?.has(message.id!)) {
      pending.get(peer)!.get(message.id!)!(message);
      pending.get(peer)!.delete(message.id!);
    }
  };

  const peers = await Promise.all(SESSION_TOKENS.map(() => openPeer(onMessage)));
  const state = peers.map(() => ({ leases: [] as number[], tokens: new Map<string, number[]>(), watches: [] as number[] }));
  const expect_ = (peer: Raw, id: number, handle: (message: ServerMessage) => void) => {
    let map = pending.get(peer);
    if (!map) pending.set(peer, (map = new Map()));
    map.set(id, handle);
  };

  for (const [index, peer] of peers.entries()) {
    peer.send({ op: "hello", version: PROTOCOL_VERSION, auth: SESSION_TOKENS[index], agent: `fuzz-${index}` });
    for (const ttl of [2_000, 3_000]) {
      const id = peer.fire({ op: "lease.grant", ttl });
      const answer = await peer.answer(id);
      if (answer?.type === "reply") state[index]!.leases.push(answer.result.lease as number);
    }
  }

  for (const [step, cmd] of commands.entries()) {
    const index = cmd.session;
    const peer = peers[index]!;
    const own = state[index]!;
    const name = names[cmd.name]!;
    const lease = cmd.x < 0 ? 999_999 : own.leases[cmd.x % Math.max(1, own.leases.length)] ?? 999_999;
    const heldToken = () => own.tokens.get(name)?.at(-1) ?? (cmd.x > 0 ? cmd.x : 1);
    const onGrant = (key: string) => (message: ServerMessage) => {
      if (message.type !== "reply") return;
      const token = (message.result.token as number | undefined) ?? undefined;
      if (token === undefined) return;
      fresh(peer, token, "token");
      if (issued.has(token)) failures.push(new Error(`token ${token} was handed out twice`));
      issued.add(token);
      own.tokens.set(key, [...(own.tokens.get(key) ?? []), token]);
    };
    let id: number;
    switch (cmd.kind) {
      case "lock":
      case "shared":
        id = peer.fire({ op: "lock.acquire", name, lease, wait: cmd.wait, mode: cmd.kind === "shared" ? "shared" : undefined });
        expect_(peer, id, onGrant(name));
        break;
      case "sem":
        id = peer.fire({ op: "lock.acquire", name: `${name}/sem`, lease, wait: cmd.wait, limit: 2 });
        expect_(peer, id, onGrant(`${name}/sem`));
        break;
      case "release":
        peer.fire({ op: "lock.release", name, token: heldToken() });
        break;
      case "put":
      case "fenced-put":
      case "cas-put": {
        const key = `${name}/k${cmd.x % 3}`;
        const bound = cmd.flag && cmd.kind === "put";
        if (bound) leaseBoundKeys.add(key);
        id = peer.fire({
          op: "kv.put",
          key,
          value: cmd.value,
          lease: bound ? lease : undefined,
          fence: cmd.kind === "fenced-put" ? { lock: name, token: heldToken() } : undefined,
          ifRevision: cmd.kind === "cas-put" ? Math.max(0, cmd.x) : undefined,
        });
        expect_(peer, id, (message) => {
          if (message.type !== "reply") return;
          fresh(peer, message.result.revision as number, "revision");
          keyOps.push({ key, revision: message.result.revision as number, value: cmd.value });
        });
        break;
      }
      case "delete": {
        const key = `${name}/k${cmd.x % 3}`;
        id = peer.fire({ op: "kv.delete", key });
        expect_(peer, id, (message) => {
          if (message.type !== "reply" || message.result.deleted !== true) return;
          fresh(peer, message.result.revision as number, "revision");
          keyOps.push({ key, revision: message.result.revision as number, value: undefined });
        });
        break;
      }
      case "get":
        peer.fire({ op: "kv.get", key: `${name}/k${cmd.x % 3}` });
        break;
      case "list":
        peer.fire({ op: "kv.list", prefix: cmd.flag ? "" : name });
        break;
      case "counter.add":
      case "counter.set": {
        const counter = `${name}/c`;
        const kind = cmd.kind === "counter.add" ? "add" : "set";
        id = peer.fire(kind === "add" ? { op: "counter.add", name: counter, delta: cmd.x } : { op: "counter.set", name: counter, value: cmd.x });
        expect_(peer, id, (message) => {
          if (message.type !== "reply") return;
          fresh(peer, message.result.revision as number, "revision");
          counterOps.push({ name: counter, revision: message.result.revision as number, kind, amount: cmd.x, result: message.result.value as number | undefined });
        });
        break;
      }
      case "counter.get":
        peer.fire({ op: "counter.get", name: `${name}/c` });
        break;
      case "campaign":
        id = peer.fire({ op: "election.campaign", name: `${name}/e`, lease, value: cmd.value, wait: cmd.wait });
        expect_(peer, id, onGrant(`${name}/e`));
        break;
      case "resign":
        peer.fire({ op: "election.resign", name: `${name}/e`, token: own.tokens.get(`${name}/e`)?.at(-1) ?? 1 });
        break;
      case "leader":
        peer.fire({ op: "election.leader", name: `${name}/e` });
        break;
      case "watch":
        own.watches.push(peer.fire({ op: "watch", prefix: cmd.flag ? "" : name }));
        break;
      case "unwatch":
        peer.fire({ op: "unwatch", watch: own.watches.at(cmd.x % Math.max(1, own.watches.length)) ?? 1 });
        break;
      case "grant":
        id = peer.fire({ op: "lease.grant", ttl: 500 + Math.max(0, cmd.x) * 100 });
        expect_(peer, id, (message) => {
          if (message.type === "reply") own.leases.push(message.result.lease as number);
        });
        break;
      case "revoke":
        peer.fire({ op: "lease.revoke", lease });
        break;
      case "cancel":
        peer.fire({ op: "cancel", target: Math.max(1, peer.lastId - (Math.max(0, cmd.x) % 4)) });
        break;
      case "admin.release":
        peer.fire({ op: "admin.release", name: cmd.flag ? `${name}/sem` : name });
        break;
      case "admin.state":
        peer.fire({ op: "admin.state" });
        break;
    }
    // Interleave: let the sockets carry some of it before the next command.
    if (step % 4 === 3) await new Promise((resolve) => setImmediate(resolve));
  }

  // Settle: a last request per session, answered after everything sent before it (waits aside).
  await Promise.all(peers.map(async (peer) => expect(await peer.answer(peer.fire({ op: "kv.get", key: names[0]! }), 5_000)).toBeDefined()));
  checkLockTables();
  // The final values, read by the operator's session (index 3, every right) as any client reads them.
  const operatorRead = async (fields: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const answer = await peers[3]!.request(fields);
    if (answer.type !== "reply") throw new Error(`${JSON.stringify(fields)} was answered ${JSON.stringify(answer)}`);
    return answer.result;
  };

  // Counters: replayed in revision order, they explain every value the server returned, and the final one.
  for (const [counter, ops] of groupBy(counterOps, (op) => op.name)) {
    let model = 0;
    for (const op of ops.sort((a, b) => a.revision - b.revision)) {
      if (op.kind === "add") {
        model += op.amount;
        expect(op.result, `${counter} after +${op.amount} at revision ${op.revision}`).toBe(model);
      } else model = op.amount;
    }
    expect(await operatorRead({ op: "counter.get", name: counter }), `final value of ${counter}`).toEqual({ value: model });
  }
  // Keys: each holds the value of its latest write (keys bound to leases may have gone with them).
  for (const [key, ops] of groupBy(keyOps, (op) => op.key)) {
    if (leaseBoundKeys.has(key)) continue;
    const latest = ops.sort((a, b) => a.revision - b.revision).at(-1)!;
    const { entry } = (await operatorRead({ op: "kv.get", key })) as ResultOf<"kv.get">;
    if (latest.value === undefined) expect(entry, `${key} was deleted last`).toBeNull();
    else expect({ value: entry?.value, revision: entry?.revision }, key).toEqual({ value: latest.value, revision: latest.revision });
  }

  for (const peer of peers) {
    peer.send({ op: "bye", id: ++peer.lastId });
  }
  // The server closes each socket once it has handled the bye; a terminate before that would leave the
  // session detached (a dropped socket, not a clean close). 10 s: a bye took over 2 s at a load of 20.
  await Promise.all(peers.map((peer) => Promise.race([peer.closed().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 10_000))])));
  for (const peer of peers) {
    peer.socket.terminate();
    expect(peer.unreadable).toEqual([]);
  }
  if (failures.length > 0) throw failures[0];
  checkLockTables();
  if (process.env.FUZZ_STATS) {
    const tally = new Map<string, number>();
    for (const peer of peers) for (const message of peer.received) {
      const key = message.type === "error" ? `error ${message.code}` : message.type === "reply" ? `reply ${Object.keys(message.result).join(",")}` : message.type;
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    stats.push(tally);
  }
}
const stats: Map<string, number>[] = [];
afterAll(() => {
  if (stats.length === 0) return;
  const total = new Map<string, number>();
  for (const tally of stats) for (const [key, count] of tally) total.set(key, (total.get(key) ?? 0) + count);
  console.log([...total].sort((a, b) => b[1] - a[1]).map(([key, count]) => `${count}\t${key}`).join("\n"));
});

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return groups;
}

describe("fuzzing a running server", () => {
  it(`random and mutated frames: every reply well-formed, documented close codes, server alive (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(handshake, fc.string({ maxLength: 100 }), fc.array(frame, { minLength: 0, maxLength: 16, size: "medium" }), async (kind, random, frames) => {
        const peer = await openPeer();
        if (kind !== "none") peer.send(await helloFor(kind, random));
        for (const item of frames) peer.sendRaw(item);
        // A last request: answered if the session is open, or the connection is closed by now.
        await peer.answer(peer.fire({ op: "counter.get", name: "tenant-a/probe", id: 2 ** 40 }), 3_000);
        const closed = peer.close?.code;
        peer.socket.terminate();
        await peer.closed();
        expect(peer.unreadable).toEqual([]);
        if (closed !== undefined) expect(DOCUMENTED_CLOSES.has(closed) || closed === 1006, `close code ${closed}`).toBe(true);
        await serverStillServes();
      }),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  }, TEST_TIMEOUT_MS);

  it(`random operations from four sessions keep the invariants (${RUNS} runs)`, async () => {
    await fc.assert(fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 80, size: "medium" }), runOperations), {
      numRuns: RUNS,
      seed: SEED,
      interruptAfterTimeLimit: TIME_LIMIT_MS,
    });
    await serverStillServes();
    // Every session of the runs said bye: none is left behind.
    await expect
      .poll(async () => (await inspectOver(server.url, TOKENS.admin)).sessions.filter((session) => session.agent?.startsWith("fuzz-")))
      .toEqual([]);
  }, TEST_TIMEOUT_MS);
});
