/**
 * etcd's `TxnRequest` encoded and its `TxnResponse` decoded by hand (protobuf, proto3), for the
 * transaction that EtcdClient sends over `node:http2` without `@grpc/grpc-js` and protobufjs: their
 * per-call machinery cost the leading gateway about as much CPU per transaction as 27 operations of
 * serving (BENCHMARKS.md, "Cluster throughput (round 6)"). Only the fields EtcdClient uses; field
 * numbers from etcd3's `proto/rpc.proto` and `proto/kv.proto` (etcd's `etcdserverpb`, `mvccpb`).
 * `etcd-txn-codec.test.ts` checks both against protobufjs as etcd3 loads it.
 */
export function encodeTxnRequest(compare: readonly Compare[], success: readonly TxnOp[], failure: readonly TxnOp[]): Buffer {
  const txn = new ProtoWriter();
  for (const entry of compare) txn.message(TxnRequestField.compare, encodeCompare(entry));
  for (const op of success) txn.message(TxnRequestField.success, encodeRequestOp(op));
  for (const op of failure) txn.message(TxnRequestField.failure, encodeRequestOp(op));
  return txn.finish();
}

/**
 * The answer: whether the compares held, the store's revision after it, and each range read's key
 * values in the order of the operations (undefined for a put or a delete). Throws `TxnDecodeError`
 * on bytes that are not a well-formed `TxnResponse`.
 */
export function decodeTxnResponse(bytes: Uint8Array): TxnResult {
  const result: TxnResult = { succeeded: false, revision: 0, ranges: [] };
  const reader = new ProtoReader(bytes);
  while (reader.more()) {
    const tag = reader.tag();
    if (tag === key(TxnResponseField.header, WireType.LEN)) result.revision = decodeHeaderRevision(reader.nested());
    else if (tag === key(TxnResponseField.succeeded, WireType.VARINT)) result.succeeded = reader.varint().low !== 0;
    else if (tag === key(TxnResponseField.responses, WireType.LEN)) result.ranges.push(decodeResponseOp(reader.nested()));
    else reader.skip(tag);
  }
  return result;
}

/** The end of the range of keys that start with `prefix` (etcd's `clientv3.GetPrefixRangeEnd`). */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, "utf8");
  for (let index = end.length - 1; index >= 0; index--) {
    if ((end[index] as number) < 0xff) {
      end[index] = (end[index] as number) + 1;
      return end.subarray(0, index + 1);
    }
  }
  return Buffer.from([0]);
}

/** A compare of a transaction: `create_revision(key) == createRevision` (0: the key does not exist). */
export interface CreateRevisionIs {
  key: string;
  createRevision: number;
}

/** A compare of a transaction: the key exists (`create_revision(key) > 0`). */
export interface KeyExists {
  key: string;
  exists: true;
}

export type Compare = CreateRevisionIs | KeyExists;

export type TxnOp =
  | { op: "put"; key: string; value: Uint8Array; lease?: string }
  | { op: "get"; key: string }
  | { op: "getPrefix"; prefix: string }
  | { op: "deletePrefix"; prefix: string }
  /** Every key in [key, end). */
  | { op: "deleteRange"; key: string; end: string }
  | { op: "delete"; key: string };

export interface TxnResult {
  succeeded: boolean;
  /** The store's revision after the transaction. */
  revision: number;
  ranges: (KeyValue[] | undefined)[];
}

export interface KeyValue {
  key: string;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  /** The lease it is attached to, "0" for none. */
  lease: string;
}

/** Bytes that are not a well-formed protobuf message of the expected type. */
export class TxnDecodeError extends Error {
  override name = "TxnDecodeError";
}

// Field numbers, from rpc.proto and kv.proto.
const TxnRequestField = { compare: 1, success: 2, failure: 3 } as const;
const CompareField = { result: 1, target: 2, key: 3, createRevision: 5 } as const;
/** `Compare.CompareResult` and `Compare.CompareTarget`. */
const CompareResult = { equal: 0, greater: 1 } as const;
const CompareTarget = { create: 1 } as const;
const RequestOpField = { range: 1, put: 2, deleteRange: 3 } as const;
const RangeRequestField = { key: 1, rangeEnd: 2 } as const;
const PutRequestField = { key: 1, value: 2, lease: 3 } as const;
const DeleteRangeRequestField = { key: 1, rangeEnd: 2 } as const;
const TxnResponseField = { header: 1, succeeded: 2, responses: 3 } as const;
const ResponseHeaderField = { revision: 3 } as const;
const ResponseOpField = { range: 1 } as const;
const RangeResponseField = { kvs: 2 } as const;
const KeyValueField = { key: 1, createRevision: 2, modRevision: 3, value: 5, lease: 6 } as const;

const WireType = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

function key(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

function encodeCompare(entry: Compare): Buffer {
  const compare = new ProtoWriter();
  // Equal is the enum's zero, proto3's default; written anyway, as protobufjs does for a value it is given.
  compare.varint(CompareField.result, "exists" in entry ? CompareResult.greater : CompareResult.equal);
  compare.varint(CompareField.target, CompareTarget.create);
  compare.bytes(CompareField.key, utf8(entry.key));
  // A member of the oneof `target_union`: present even when 0 (`create_revision == 0`: the key does not exist).
  compare.varint(CompareField.createRevision, "exists" in entry ? 0 : entry.createRevision);
  return compare.finish();
}

function encodeRequestOp(op: TxnOp): Buffer {
  const request = new ProtoWriter();
  switch (op.op) {
    case "put": {
      const put = new ProtoWriter();
      put.bytes(PutRequestField.key, utf8(op.key));
      put.bytes(PutRequestField.value, op.value);
      if (op.lease !== undefined && op.lease !== "0") put.varint(PutRequestField.lease, BigInt(op.lease));
      request.message(RequestOpField.put, put.finish());
      break;
    }
    case "get":
      request.message(RequestOpField.range, rangeMessage(RangeRequestField.key, utf8(op.key)));
      break;
    case "getPrefix":
      request.message(RequestOpField.range, rangeMessage(RangeRequestField.key, utf8(op.prefix), RangeRequestField.rangeEnd, prefixEnd(op.prefix)));
      break;
    case "deletePrefix":
      request.message(RequestOpField.deleteRange, rangeMessage(DeleteRangeRequestField.key, utf8(op.prefix), DeleteRangeRequestField.rangeEnd, prefixEnd(op.prefix)));
      break;
    case "deleteRange":
      request.message(RequestOpField.deleteRange, rangeMessage(DeleteRangeRequestField.key, utf8(op.key), DeleteRangeRequestField.rangeEnd, utf8(op.end)));
      break;
    case "delete":
      request.message(RequestOpField.deleteRange, rangeMessage(DeleteRangeRequestField.key, utf8(op.key)));
      break;
  }
  return request.finish();
}

/** A RangeRequest or DeleteRangeRequest: a key and perhaps a range end (the same field numbers in both). */
function rangeMessage(keyField: number, keyBytes: Uint8Array, endField?: number, end?: Uint8Array): Buffer {
  const range = new ProtoWriter();
  range.bytes(keyField, keyBytes);
  if (endField !== undefined && end !== undefined) range.bytes(endField, end);
  return range.finish();
}

function decodeHeaderRevision(reader: ProtoReader): number {
  let revision = 0;
  while (reader.more()) {
    const tag = reader.tag();
    if (tag === key(ResponseHeaderField.revision, WireType.VARINT)) revision = reader.varint().safeNumber();
    else reader.skip(tag);
  }
  return revision;
}

function decodeResponseOp(reader: ProtoReader): KeyValue[] | undefined {
  let kvs: KeyValue[] | undefined;
  while (reader.more()) {
    const tag = reader.tag();
    if (tag === key(ResponseOpField.range, WireType.LEN)) kvs = decodeRangeResponse(reader.nested());
    else reader.skip(tag);
  }
  return kvs;
}

function decodeRangeResponse(reader: ProtoReader): KeyValue[] {
  const kvs: KeyValue[] = [];
  while (reader.more()) {
    const tag = reader.tag();
    if (tag === key(RangeResponseField.kvs, WireType.LEN)) kvs.push(decodeKeyValue(reader.nested()));
    else reader.skip(tag);
  }
  return kvs;
}

function decodeKeyValue(reader: ProtoReader): KeyValue {
  const kv: KeyValue = { key: "", value: EMPTY, createRevision: 0, modRevision: 0, lease: "0" };
  while (reader.more()) {
    const tag = reader.tag();
    if (tag === key(KeyValueField.key, WireType.LEN)) kv.key = reader.bytes().toString("utf8");
    else if (tag === key(KeyValueField.value, WireType.LEN)) kv.value = reader.bytes();
    else if (tag === key(KeyValueField.createRevision, WireType.VARINT)) kv.createRevision = reader.varint().safeNumber();
    else if (tag === key(KeyValueField.modRevision, WireType.VARINT)) kv.modRevision = reader.varint().safeNumber();
    else if (tag === key(KeyValueField.lease, WireType.VARINT)) kv.lease = reader.varint().int64String();
    else reader.skip(tag);
  }
  return kv;
}

const EMPTY = Buffer.alloc(0);

function utf8(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

/**
 * Writes one message's fields in order; a nested message is encoded first and written as bytes
 * (messages here are a few hundred bytes, a log entry's value aside, so the copy is cheap).
 */
class ProtoWriter {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  varint(field: number, value: number | bigint): void {
    this.#raw(varintBytes(key(field, WireType.VARINT)));
    this.#raw(varintBytes(value));
  }

  bytes(field: number, value: Uint8Array): void {
    this.#raw(varintBytes(key(field, WireType.LEN)));
    this.#raw(varintBytes(value.length));
    this.#raw(value);
  }

  message(field: number, encoded: Uint8Array): void {
    this.bytes(field, encoded);
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts, this.#length);
  }

  #raw(part: Uint8Array): void {
    this.#parts.push(part);
    this.#length += part.length;
  }
}

/** An unsigned varint; a bigint (an int64 lease id) as its 64-bit two's complement, as protobuf writes an int64. */
function varintBytes(value: number | bigint): Uint8Array {
  const out: number[] = [];
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
    if (value < 0x80) return SMALL_VARINTS[value] as Uint8Array;
    let rest = value;
    while (rest >= 0x80) {
      out.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    out.push(rest);
    return Uint8Array.from(out);
  }
  let rest = BigInt.asUintN(64, BigInt(value));
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return Uint8Array.from(out);
}

const SMALL_VARINTS = Array.from({ length: 0x80 }, (_, value) => Uint8Array.of(value));

/** A varint as read: its low and high 32 bits, as protobufjs keeps an int64. */
class Varint {
  constructor(
    readonly low: number,
    readonly high: number,
  ) {}

  /** A revision or a count: exact up to 2^53, which etcd's revisions do not reach. */
  safeNumber(): number {
    if (this.high >= 0x20_0000) throw new TxnDecodeError(`an int64 of ${this.int64String()} is beyond 2^53 where a revision was expected`);
    return this.high * 0x1_0000_0000 + this.low;
  }

  /** An int64 in decimal, signed as etcd's lease ids are (protobufjs's `longs: String`). */
  int64String(): string {
    if (this.high < 0x20_0000) return String(this.high * 0x1_0000_0000 + this.low);
    return BigInt.asIntN(64, (BigInt(this.high) << 32n) | BigInt(this.low)).toString();
  }
}

/** Reads one message's fields; every length is checked against what is left, so bad bytes throw instead of reading past the end. */
class ProtoReader {
  readonly #bytes: Buffer;
  #offset: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, offset = 0, end = bytes.length) {
    this.#bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#offset = offset;
    this.#end = end;
  }

  more(): boolean {
    return this.#offset < this.#end;
  }

  tag(): number {
    const tag = this.varint();
    if (tag.high !== 0 || tag.low >>> 3 === 0) throw new TxnDecodeError(`a field tag of ${tag.int64String()} at byte ${this.#offset}`);
    return tag.low;
  }

  varint(): Varint {
    let low = 0;
    let high = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.#offset >= this.#end) throw new TxnDecodeError("a varint runs past the end of its message");
      const byte = this.#bytes[this.#offset++] as number;
      const bits = byte & 0x7f;
      if (shift < 28) low |= bits << shift;
      else if (shift === 28) {
        low |= (bits & 0x0f) << 28;
        high |= bits >>> 4;
      } else high |= bits << (shift - 32);
      if (byte < 0x80) return new Varint(low >>> 0, high >>> 0);
    }
    throw new TxnDecodeError("a varint longer than 10 bytes");
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytes(): Buffer {
    const length = this.#length();
    const start = this.#offset;
    this.#offset += length;
    return this.#bytes.subarray(start, start + length);
  }

  nested(): ProtoReader {
    const length = this.#length();
    const reader = new ProtoReader(this.#bytes, this.#offset, this.#offset + length);
    this.#offset += length;
    return reader;
  }

  skip(tag: number): void {
    switch (tag & 7) {
      case WireType.VARINT:
        this.varint();
        return;
      case WireType.I64:
        this.#advance(8);
        return;
      case WireType.LEN:
        this.#advance(this.#length());
        return;
      case WireType.I32:
        this.#advance(4);
        return;
      default:
        throw new TxnDecodeError(`wire type ${tag & 7} (field ${tag >>> 3}) is not used by etcd's messages`);
    }
  }

  #length(): number {
    const length = this.varint();
    if (length.high !== 0 || length.low > this.#end - this.#offset) throw new TxnDecodeError(`a length of ${length.int64String()} runs past the end of its message (${this.#end - this.#offset} bytes left)`);
    return length.low;
  }

  #advance(count: number): void {
    if (count > this.#end - this.#offset) throw new TxnDecodeError(`a field of ${count} bytes runs past the end of its message`);
    this.#offset += count;
  }
}
