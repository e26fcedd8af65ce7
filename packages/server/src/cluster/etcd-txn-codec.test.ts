import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TxnDecodeError, decodeTxnResponse, encodeTxnRequest, prefixEnd, type Compare, type TxnOp } from "./etcd-txn-codec.js";
import { etcd3Protobufjs } from "../../../../test/support/etcd3-protobufjs.js";
import { propertyRuns } from "../../../../test/support/property-runs.js";

/**
 * The hand-written codec against protobufjs as etcd3 uses it: the messages of etcd3's own .proto files
 * (etcd-rpc.descriptor.json, parsed from them; test/cluster/etcd-rpc-descriptor.test.ts checks it is
 * still what they say) in etcd3's own protobufjs, serialized as its @grpc/proto-loader does with its
 * options (etcd3/lib/connection-pool.js): what grpc-js put on the wire for the transaction before this
 * codec. The descriptor instead of the .proto text because parsing it (and loading proto-loader) took
 * 0.3 to 0.5 s of a unit tier meant to take under 2 s.
 */
const txn = etcd3TxnMethod();

describe("encodeTxnRequest", () => {
  it("encodes what etcd3 encoded for the same transaction, as protobufjs reads it back", () => {
    fc.assert(
      fc.property(fc.array(compareArbitrary, { maxLength: 4 }), fc.array(opArbitrary, { maxLength: 4 }), fc.array(opArbitrary, { maxLength: 4 }), (compare, success, failure) => {
        const ours = encodeTxnRequest(compare, success, failure);
        const etcd3s = txn.requestSerialize(etcd3Request(compare, success, failure));
        const read = txn.requestDeserialize(ours);
        const expected = txn.requestDeserialize(etcd3s);
        // Node's deep equality first; vitest's matcher (and its diff) for a mismatch only.
        if (!isDeepStrictEqual(read, expected)) expect(read).toEqual(expected);
      }),
      // 50 here, 200 in CI (500 took 1.1 s at a load of 9).
      { numRuns: propertyRuns(50) },
    );
  });

  it("encodes the leader's commit as protobufjs reads it: its compares, the put with a lease, the reads", () => {
    const value = Uint8Array.from([0, 1, 0xff]);
    const ours = encodeTxnRequest(
      [{ key: "/lh/leader", createRevision: 2 ** 40 + 3 }, { key: "/lh/log/0002", createRevision: 0 }, { key: "/lh/log/0001", exists: true }],
      [{ op: "put", key: "/lh/log/0002", value, lease: "7587868934762102787" }],
      [{ op: "get", key: "/lh/leader" }, { op: "getPrefix", prefix: "/lh/\u00ff" }],
    );
    expect(txn.requestDeserialize(ours)).toMatchObject({
      compare: [
        { key: Buffer.from("/lh/leader"), target: "Create", result: "Equal", create_revision: String(2 ** 40 + 3), target_union: "create_revision" },
        { key: Buffer.from("/lh/log/0002"), target: "Create", result: "Equal", create_revision: "0", target_union: "create_revision" },
        { key: Buffer.from("/lh/log/0001"), target: "Create", result: "Greater", create_revision: "0" },
      ],
      success: [{ request_put: { key: Buffer.from("/lh/log/0002"), value: Buffer.from(value), lease: "7587868934762102787" } }],
      failure: [{ request_range: { key: Buffer.from("/lh/leader"), range_end: Buffer.alloc(0) } }, { request_range: { key: Buffer.from("/lh/\u00ff"), range_end: prefixEnd("/lh/\u00ff") } }],
    });
  });
});

describe("decodeTxnResponse", () => {
  it("reads what protobufjs encodes for any answer: succeeded, the header's revision, each range's key values", () => {
    fc.assert(
      fc.property(responseArbitrary, (response) => {
        const decoded = decodeTxnResponse(txn.responseSerialize(response));
        expect(decoded).toEqual({
          succeeded: response.succeeded,
          revision: Number(response.header.revision),
          ranges: response.responses.map((op) =>
            "response_range" in op
              ? op.response_range.kvs.map((kv) => ({ key: kv.key.toString("utf8"), value: kv.value, createRevision: Number(kv.create_revision), modRevision: Number(kv.mod_revision), lease: kv.lease }))
              : undefined,
          ),
        });
      }),
      { numRuns: propertyRuns(50) },
    );
  });

  it("throws TxnDecodeError, never anything else, on an answer cut short or changed at any byte", () => {
    fc.assert(
      fc.property(responseArbitrary, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (response, at, byte, cut) => {
        const bytes = Buffer.from(txn.responseSerialize(response));
        const position = at % Math.max(1, bytes.length);
        const damaged = cut ? bytes.subarray(0, position) : Buffer.from(bytes.map((value, index) => (index === position ? byte : value)));
        try {
          decodeTxnResponse(damaged);
        } catch (error) {
          expect(error).toBeInstanceOf(TxnDecodeError);
        }
      }),
      { numRuns: propertyRuns(150) },
    );
  });

  it("names what is wrong", () => {
    expect(() => decodeTxnResponse(Buffer.from([0x0a, 0x05, 0x18]))).toThrow(/a length of 5 runs past the end of its message \(1 bytes left\)/);
    expect(() => decodeTxnResponse(Buffer.from([0x10]))).toThrow(/a varint runs past the end/);
    expect(() => decodeTxnResponse(Buffer.from([0x0b]))).toThrow(/wire type 3 \(field 1\) is not used/);
    expect(() => decodeTxnResponse(Buffer.from([0x0a, 0x0b, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(/beyond 2\^53 where a revision was expected/);
  });
});

const text = fc.string({ unit: "binary", maxLength: 12 });
const revision = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
/** etcd's lease ids: positive int64, in decimal. */
const leaseId = fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String);
const value = fc.uint8Array({ maxLength: 40 });

const compareArbitrary: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({ key: text, createRevision: revision }),
  fc.record({ key: text, exists: fc.constant(true as const) }),
);

const opArbitrary: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key: text, value, lease: fc.option(fc.oneof(leaseId, fc.constant("0")), { nil: undefined }) }, { requiredKeys: ["op", "key", "value"] }),
  fc.record({ op: fc.constant("get" as const), key: text }),
  fc.record({ op: fc.constant("getPrefix" as const), prefix: text }),
  fc.record({ op: fc.constant("deletePrefix" as const), prefix: text }),
  fc.record({ op: fc.constant("deleteRange" as const), key: text, end: text }),
  fc.record({ op: fc.constant("delete" as const), key: text }),
);

const int64 = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String);
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
const keyValueArbitrary = fc.record({
  key: fc.string({ maxLength: 12 }).map((key) => Buffer.from(key, "utf8")),
  create_revision: revision.map(String),
  mod_revision: revision.map(String),
  version: int64,
  value: value.map((bytes) => Buffer.from(bytes)),
  lease: int64,
});
const header = fc.record({ cluster_id: uint64, member_id: uint64, revision: revision.map(String), raft_term: uint64 });
const responseOpArbitrary = fc.oneof(
  fc.record({ response_range: fc.record({ header, kvs: fc.array(keyValueArbitrary, { maxLength: 3 }), more: fc.boolean(), count: int64 }) }),
  fc.record({ response_put: fc.record({ header }) }),
  fc.record({ response_delete_range: fc.record({ header, deleted: int64, prev_kvs: fc.array(keyValueArbitrary, { maxLength: 2 }) }) }),
);
const responseArbitrary = fc.record({ header, succeeded: fc.boolean(), responses: fc.array(responseOpArbitrary, { maxLength: 4 }) });

/** The transaction as EtcdClient gave it to etcd3's `kv.txn` before this codec. */
function etcd3Request(compare: readonly Compare[], success: readonly TxnOp[], failure: readonly TxnOp[]): object {
  const bytes = (key: string) => Buffer.from(key, "utf8");
  const requestOp = (op: TxnOp): object => {
    switch (op.op) {
      case "put":
        return { request_put: { key: bytes(op.key), value: Buffer.from(op.value), lease: op.lease ?? 0 } };
      case "get":
        return { request_range: { key: bytes(op.key) } };
      case "getPrefix":
        return { request_range: { key: bytes(op.prefix), range_end: prefixEnd(op.prefix) } };
      case "deletePrefix":
        return { request_delete_range: { key: bytes(op.prefix), range_end: prefixEnd(op.prefix) } };
      case "deleteRange":
        return { request_delete_range: { key: bytes(op.key), range_end: bytes(op.end) } };
      case "delete":
        return { request_delete_range: { key: bytes(op.key) } };
    }
  };
  return {
    compare: compare.map((entry) =>
      "exists" in entry
        ? { key: bytes(entry.key), target: "Create", result: "Greater", create_revision: 0 }
        : { key: bytes(entry.key), target: "Create", result: "Equal", create_revision: entry.createRevision },
    ),
    success: success.map(requestOp),
    failure: failure.map(requestOp),
  };
}

interface MethodDefinition {
  requestSerialize(value: object): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: object): Buffer;
}

/** KV.Txn's messages in etcd3's protobufjs, serialized as @grpc/proto-loader serializes them. */
function etcd3TxnMethod(): MethodDefinition {
  const { Root } = etcd3Protobufjs();
  const root = Root.fromJSON(JSON.parse(readFileSync(new URL("./etcd-rpc.descriptor.json", import.meta.url), "utf8")) as object);
  const request = root.lookupType("etcdserverpb.TxnRequest");
  const response = root.lookupType("etcdserverpb.TxnResponse");
  // proto-loader's serialize and deserialize (@grpc/proto-loader/build/src/index.js), with etcd3's options.
  const asObject = { longs: String, enums: String, defaults: true, oneofs: true };
  return {
    requestSerialize: (value) => Buffer.from(request.encode(request.fromObject(value)).finish()),
    requestDeserialize: (bytes) => request.toObject(request.decode(bytes), asObject),
    responseSerialize: (value) => Buffer.from(response.encode(response.fromObject(value)).finish()),
  };
}
