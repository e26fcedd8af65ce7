/**
 * Writes conformance/vectors/*.json. The core messages' bytes are written here by hand from
 * PROTOCOL.md (a codec bug cannot certify itself); every other message's bytes come from the kit's
 * own @msgpack/msgpack encoder, and test/conformance/vectors.test.ts checks that our codec writes
 * exactly the same bytes. Run: node --import tsx packages/conformance/scripts/write-vectors.ts
 */
import { writeFileSync } from "node:fs";
import { encode, hex } from "../src/wire/codec.js";
import { toTagged, type InvalidFrameVector, type MessageVector } from "../src/vectors.js";
import type { WireValue } from "../src/wire/codec.js";

type Entry = [name: string, section: string, value: WireValue, hand?: string, alsoValid?: string[]];

const bin = (text: string) => new Uint8Array(Buffer.from(text, "hex"));

const client: Entry[] = [
  ["hello", "2", { op: "hello", version: 1, agent: "example" }, "83 a26f70 a568656c6c6f a776657273696f6e 01 a56167656e74 a76578616d706c65"],
  ["hello.resume", "2, 7", { op: "hello", version: 1, resume: { session: "s1", secret: "k1" } }, "83 a26f70 a568656c6c6f a776657273696f6e 01 a6726573756d65 82 a773657373696f6e a27331 a6736563726574 a26b31"],
  ["hello.auth", "2, 17.1", { op: "hello", version: 1, auth: "token-1", agent: "worker" }],
  ["pong", "5", { op: "pong", seq: 3 }, "82 a26f70 a4706f6e67 a3736571 03"],
  ["bye", "4", { op: "bye", id: 4 }, "82 a26f70 a3627965 a26964 04"],
  ["cancel", "8", { op: "cancel", id: 4, target: 3 }],
  ["lease.grant", "9", { op: "lease.grant", id: 1, ttl: 3000 }, "83 a26f70 ab6c656173652e6772616e74 a26964 01 a374746c cd0bb8"],
  ["lease.grant.no-keepalive", "9", { op: "lease.grant", id: 1, ttl: 70000, keepAlive: false }],
  ["lease.renew", "9", { op: "lease.renew", id: 2, lease: 1 }],
  ["lease.revoke", "9", { op: "lease.revoke", id: 3, lease: 1 }],
  ["lease.ttl", "9", { op: "lease.ttl", id: 4, lease: 1 }],
  ["lock.acquire", "8, 9", { op: "lock.acquire", id: 2, name: "jobs/report", lease: 1, wait: true }, "85 a26f70 ac6c6f636b2e61637175697265 a26964 02 a46e616d65 ab6a6f62732f7265706f7274 a56c65617365 01 a477616974 c3"],
  ["lock.acquire.bounded-shared", "8, 9", { op: "lock.acquire", id: 3, name: "docs/1", lease: 1, wait: 30000, mode: "shared" }],
  ["lock.acquire.semaphore", "8, 9", { op: "lock.acquire", id: 4, name: "pool", lease: 1, limit: 3 }],
  ["lock.acquire.steal", "9", { op: "lock.acquire", id: 5, name: "jobs/report", lease: 1, steal: true }],
  ["lock.release", "9", { op: "lock.release", id: 3, name: "jobs/report", token: 1 }],
  ["lock.query", "9", { op: "lock.query", id: 6, prefix: "" }],
  ["kv.put", "1, 11", { op: "kv.put", id: 5, key: "k", value: { b: bin("01ff"), f: 0.5, n: -1, big: 2 ** 40 } },
    "84 a26f70 a66b762e707574 a26964 05 a36b6579 a16b a576616c7565 84 a162 c40201ff a166 cb3fe0000000000000 a16e ff a3626967 cb4270000000000000",
    // An integer beyond 32 bits: our encoder writes it as the exact float64, others as uint64; both decode to 2^40.
    ["84a26f70a66b762e707574a26964 05a36b6579a16ba576616c756584a162c40201ffa166cb3fe0000000000000a16effa3626967cf0000010000000000".replace(/ /g, "")]],
  ["kv.put.conditions", "11", { op: "kv.put", id: 6, key: "orders/17", value: "paid", lease: 1, ifRevision: 0, fence: { lock: "orders", token: 9 } }],
  ["kv.get", "11", { op: "kv.get", id: 7, key: "orders/17" }],
  ["kv.delete", "11", { op: "kv.delete", id: 8, key: "orders/17", ifRevision: 12 }],
  ["kv.list", "11", { op: "kv.list", id: 9, prefix: "orders/", after: "orders/17", limit: 100 }],
  ["watch", "11", { op: "watch", id: 10, prefix: "orders/", fromRevision: 13 }],
  ["unwatch", "11", { op: "unwatch", id: 11, watch: 10 }],
  ["counter.add", "11", { op: "counter.add", id: 12, name: "visits", delta: -5 }],
  ["counter.get", "11", { op: "counter.get", id: 13, name: "visits" }],
  ["counter.set", "11", { op: "counter.set", id: 14, name: "visits", value: 9007199254740991 },
    "84 a26f70 ab636f756e7465722e736574 a26964 0e a46e616d65 a6766973697473 a576616c7565 cb433fffffffffffff",
    ["84a26f70ab636f756e7465722e736574a269640ea46e616d65a6766973697473a576616c7565cf001fffffffffffff"]],
  ["counter.cas", "11", { op: "counter.cas", id: 15, name: "visits", expect: 0, value: 1 }],
  ["election.campaign", "11", { op: "election.campaign", id: 16, name: "primary", lease: 1, value: { host: "10.0.0.7", port: 5432 }, wait: true }],
  ["election.resign", "11", { op: "election.resign", id: 17, name: "primary", token: 20 }],
  ["election.leader", "11", { op: "election.leader", id: 18, name: "primary" }],
  ["election.observe", "11", { op: "election.observe", id: 19, name: "primary" }],
  ["election.unobserve", "11", { op: "election.unobserve", id: 20, observe: 19 }],
  ["admin.state", "9", { op: "admin.state", id: 21 }],
  ["admin.subscribe", "9", { op: "admin.subscribe", id: 22 }],
  ["admin.unsubscribe", "9", { op: "admin.unsubscribe", id: 23, subscription: 22 }],
  ["admin.release", "9", { op: "admin.release", id: 24, name: "jobs/report" }],
  ["admin.revoke", "9", { op: "admin.revoke", id: 25, lease: 7 }],
];

const limits = { maxFrameBytes: 65536, minTtlMs: 1000, maxTtlMs: 86400000, maxWaitMs: 86400000, maxSessions: 100000, maxLeasesPerSession: 1000, maxWaitersPerLock: 100000, maxLocksPerSession: 10000, maxWatchesPerSession: 100 };

const server: Entry[] = [
  ["welcome", "2", { type: "welcome", version: 1, session: "X--zqEel9-oMsPU7", secret: "ruzNiRzsy19X231iZO4IW1qz", resumed: false, heartbeat: 3333, limits }],
  ["welcome.resumed", "2, 7", { type: "welcome", version: 1, session: "X--zqEel9-oMsPU7", secret: "ruzNiRzsy19X231iZO4IW1qz", resumed: true, heartbeat: 1000, baseHeartbeat: 3333, sessionGrace: 10000, limits, resync: { lastRequest: 5, leases: [{ lease: 1, ttl: 3000, keepAlive: true }], holds: [{ request: 2, name: "jobs/report", lease: 1, token: 1 }], waits: [{ request: 4, name: "jobs/b", lease: 1 }] } }],
  ["reply.lease.grant", "3, 9", { type: "reply", id: 1, result: { lease: 1, ttl: 3000, keepAlive: true } }, "83 a474797065 a57265706c79 a26964 01 a6726573756c74 83 a56c65617365 01 a374746c cd0bb8 a96b656570416c697665 c3"],
  ["reply.empty", "3, 9", { type: "reply", id: 4, result: {} }, "83 a474797065 a57265706c79 a26964 04 a6726573756c74 80"],
  ["reply.lock.acquire", "9", { type: "reply", id: 2, result: { acquired: true, token: 1 } }],
  ["reply.lock.acquire.refused", "9", { type: "reply", id: 2, result: { acquired: false } }],
  ["reply.kv.get", "9, 11", { type: "reply", id: 7, result: { entry: { value: "paid", revision: 14, lease: 1 } } }],
  ["reply.kv.get.missing", "9, 11", { type: "reply", id: 7, result: { entry: null } }],
  ["reply.kv.list", "9, 11", { type: "reply", id: 9, result: { items: [{ key: "orders/18", value: bin("00"), revision: 15 }], next: "orders/18", revision: 16 } }],
  ["reply.election.leader", "9", { type: "reply", id: 18, result: { leader: null } }],
  ["error", "3, 12", { type: "error", id: 3, code: "CANCELLED", message: "cancelled" }, "84 a474797065 a56572726f72 a26964 03 a4636f6465 a943414e43454c4c4544 a76d657373616765 a963616e63656c6c6564"],
  ["error.no-id", "2, 12", { type: "error", code: "UNSUPPORTED_VERSION", message: "this server speaks protocol version 1" }],
  ["ping", "5", { type: "ping", seq: 2, ack: 1 }, "83 a474797065 a470696e67 a3736571 02 a361636b 01"],
  ["lease.ended", "10", { type: "lease.ended", lease: 1, reason: "expired" }, "83 a474797065 ab6c656173652e656e646564 a56c65617365 01 a6726561736f6e a7657870697265 64"],
  ["lock.lost", "10", { type: "lock.lost", name: "jobs/report", token: 1, reason: "revoked" }],
  ["watch.events", "10, 11", { type: "watch.events", watch: 10, events: [{ type: "put", key: "orders/17", value: { total: 12.5 }, revision: 14 }, { type: "delete", key: "orders/17", revision: 15 }] }],
  ["watch.closed", "10", { type: "watch.closed", watch: 10, code: "WATCH_OVERFLOW", message: "the watch fell too far behind" }],
  ["election.changed", "10, 11", { type: "election.changed", observe: 19, leader: { value: "10.0.0.7", token: 20 } }],
  ["admin.update", "9, 10", { type: "admin.update", subscription: 22, now: 81234, revision: 41, reset: false, synced: true, sessions: [], sessionsGone: [], leases: [], leasesGone: [7], locks: [], locksGone: ["orders/17"], electionsGone: [] }],
];

function vectors(direction: "client" | "server", entries: Entry[]): MessageVector[] {
  return entries.map(([name, section, value, hand, alsoValid]) => {
    const encoded = hex(encode(value));
    const handHex = hand?.replace(/\s+/g, "");
    if (handHex !== undefined && handHex !== encoded && !(alsoValid ?? []).includes(encoded)) {
      throw new Error(`the hand-written bytes of ${name} do not match @msgpack/msgpack's:\n  hand    ${handHex}\n  encoder ${encoded}`);
    }
    return { name, direction, section, value: toTagged(value), msgpack: handHex ?? encoded, ...(alsoValid && { alsoValid }), origin: handHex ? "hand" : "encoder" };
  });
}

const invalid: InvalidFrameVector[] = [
  { name: "text-frame", section: "1", text: '{"op":"hello","version":1}', afterHello: false, error: "BAD_REQUEST", errorId: null, close: 4000 },
  { name: "request-before-hello", section: "2", msgpack: "83a26f70ab6c656173652e6772616e74a2696401a374746ccd0bb8", afterHello: false, error: "HANDSHAKE_REQUIRED", errorId: null, close: 4000 },
  { name: "hello-version-string", section: "2", msgpack: "82a26f70a568656c6c6fa776657273696f6ea131", afterHello: false, error: "BAD_REQUEST", errorId: null, close: 4000 },
  { name: "hello-unsupported-version", section: "2", msgpack: "82a26f70a568656c6c6fa776657273696f6e02", afterHello: false, error: "UNSUPPORTED_VERSION", errorId: null, close: 4001 },
  // {op:"kv.get", id:7, key:"k", x:<timestamp ext>}
  { name: "extension-timestamp", section: "1", msgpack: "84a26f70a66b762e676574a2696407a36b6579a16ba178d6ff00000000", afterHello: true, error: "BAD_REQUEST", errorId: null, close: 4000 },
  { name: "extension-record", section: "1", msgpack: "84a26f70a66b762e676574a2696407a36b6579a16ba178c7017200", afterHello: true, error: "BAD_REQUEST", errorId: null, close: 4000 },
  { name: "never-used-byte", section: "1", msgpack: "84a26f70a66b762e676574a2696407a36b6579a16ba178c1", afterHello: true, error: "BAD_REQUEST", errorId: null, close: 4000 },
  { name: "truncated", section: "1", msgpack: "83a26f70a66b762e676574a2696407a36b6579a3", afterHello: true, error: "BAD_REQUEST", errorId: null, close: 4000 },
  { name: "trailing-bytes", section: "1", msgpack: "83a26f70a66b762e676574a2696407a36b6579a16bc0", afterHello: true, error: "BAD_REQUEST", errorId: null, close: 4000 },
  { name: "nesting-101", section: "1, 14", msgpack: `84a26f70a66b762e676574a2696407a36b6579a16ba178${"91".repeat(99)}90`, afterHello: true, error: "BAD_REQUEST", errorId: null, close: 4000 },
  { name: "unknown-op", section: "1, 12", msgpack: "82a26f70a46e6f7065a2696407", afterHello: true, error: "UNKNOWN_OP", errorId: 7, close: null },
  { name: "wrong-type", section: "1, 12", msgpack: "83a26f70a66b762e676574a2696407a36b6579c3", afterHello: true, error: "BAD_REQUEST", errorId: 7, close: null },
  { name: "nil-for-optional-field", section: "1", msgpack: "84a26f70ab6c656173652e6772616e74a2696407a374746ccd0bb8a96b656570416c697665c0", afterHello: true, error: "BAD_REQUEST", errorId: 7, close: null },
  { name: "uint64-beyond-safe", section: "1, 14", msgpack: "83a26f70ab6c656173652e6772616e74a2696407a374746ccfffffffffffffffff", afterHello: true, error: "OUT_OF_RANGE", errorId: 7, close: null },
  { name: "non-string-key", section: "1", msgpack: "84a26f70a66b762e676574a2696407a36b6579a16b01a161", afterHello: true, error: "BAD_REQUEST", errorId: 7, close: null },
  { name: "duplicate-key", section: "1", msgpack: "84a26f70a66b762e676574a2696407a36b6579a161a36b6579a162", afterHello: true, error: "BAD_REQUEST", errorId: 7, close: null },
  { name: "proto-key", section: "1", msgpack: "84a26f70a66b762e676574a2696407a36b6579a16ba95f5f70726f746f5f5f80", afterHello: true, error: "BAD_REQUEST", errorId: 7, close: null },
  { name: "invalid-utf8", section: "1", msgpack: "83a26f70a66b762e676574a2696407a36b6579a2c328", afterHello: true, error: "BAD_REQUEST", errorId: 7, close: null },
  { name: "id-zero", section: "3", msgpack: "83a26f70a66b762e676574a2696400a36b6579a16b", afterHello: true, error: "OUT_OF_RANGE", errorId: null, close: null },
];

const out = new URL("../../../conformance/vectors/", import.meta.url);
const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
writeFileSync(new URL("client-messages.json", out), json(vectors("client", client)));
writeFileSync(new URL("server-messages.json", out), json(vectors("server", server)));
writeFileSync(new URL("invalid-frames.json", out), json(invalid));
