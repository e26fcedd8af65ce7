import { encode } from "../../wire/codec.js";
import type { RawConnection } from "../../wire/connection.js";
import { check, checkError, type KitContext, type Scenario } from "../scenario.js";

/** Section 1: frames that are not plain msgpack close with 4000; invalid requests are answered and the connection goes on. */
export const frameScenarios: Scenario[] = [
  unreadable("frames.text-frame", "a text frame", (connection) => connection.sendText('{"op":"kv.get"}')),
  unreadable("frames.extension-type", "an extension type (timestamp)", (connection, id) => connection.sendBytes(kvGet(id, Uint8Array.of(0xd6, 0xff, 0, 0, 0, 0)))),
  unreadable("frames.extension-ext8", "an ext 8 value of type 0x72", (connection, id) => connection.sendBytes(kvGet(id, Uint8Array.of(0xc7, 1, 0x72, 0)))),
  unreadable("frames.never-used-byte", "the byte 0xc1", (connection, id) => connection.sendBytes(kvGet(id, Uint8Array.of(0xc1)))),
  unreadable("frames.truncated", "a truncated frame", (connection, id) => connection.sendBytes(encode({ op: "kv.get", id, key: "k" }).subarray(0, 8))),
  unreadable("frames.trailing-bytes", "bytes after the value", (connection, id) => connection.sendBytes(concat(encode({ op: "kv.get", id, key: "k" }), Uint8Array.of(0xc0)))),
  unreadable("frames.nesting-101", "arrays nested 101 deep (the message map counts as the first level)", (connection, id) => connection.sendBytes(kvGet(id, nested(100)))),
  {
    name: "frames.nesting-100",
    section: "1 Transport (plain msgpack only); 14 Limits",
    async run(kit) {
      // Exactly the bound: the message map is level 1, the unknown field holds 99 more. Ignored, served.
      const { connection } = await kit.session();
      const id = connection.nextId();
      connection.sendBytes(kvGet(id, nested(99)));
      const answer = await connection.answer(id);
      check(answer.type === "reply", `a frame nested exactly 100 deep should be served, got ${JSON.stringify(answer)}`);
    },
  },
  {
    name: "frames.oversized",
    section: "1 Transport; 13 Close codes (1009)",
    async run(kit) {
      const { connection, welcome } = await kit.session();
      const maxFrameBytes = (welcome.limits as { maxFrameBytes: number }).maxFrameBytes;
      connection.send({ op: "kv.put", id: connection.nextId(), key: "conformance/oversized", value: "x".repeat(maxFrameBytes) });
      const closed = await connection.closes();
      check(closed.code === 1009, `a frame over maxFrameBytes (${maxFrameBytes}) should close with 1009, closed with ${closed.code}`);
    },
  },
  {
    name: "requests.invalid-answered",
    section: "1 Transport; 3 Requests; 12 Error codes",
    async run(kit) {
      const { connection } = await kit.session();
      checkError(await connection.refused("no.such.op"), "UNKNOWN_OP", "an unknown op");
      checkError(await connection.refused("lease.grant", { ttl: "1000" }), "BAD_REQUEST", "a string ttl");
      checkError(await connection.refused("lease.grant", { ttl: kit.ttl(5_000), keepAlive: null }), "BAD_REQUEST", "nil for an optional field");
      checkError(await connection.refused("lease.grant", { ttl: 2 ** 53 }), "OUT_OF_RANGE", "an integer beyond the safe range");
      checkError(await connection.refused("lease.grant", { ttl: -1 }), "OUT_OF_RANGE", "a negative ttl");
      const id = connection.nextId();
      // {op:"kv.get", id, key:"a", key:"b"}: the same key twice.
      connection.sendBytes(concat(Uint8Array.of(0x84), encode("op"), encode("kv.get"), encode("id"), encode(id), encode("key"), encode("a"), encode("key"), encode("b")));
      const duplicate = await connection.answer(id);
      checkError(duplicate, "BAD_REQUEST", "a map with the same key twice");
      // Every refusal above had the request's id, and the connection still serves requests.
      await connection.call("kv.get", { key: "conformance/after-invalid" });
    },
  },
  {
    name: "requests.ids-must-grow",
    section: "3 Requests and replies (request ids)",
    async run(kit) {
      const { connection } = await kit.session();
      const first = connection.nextId();
      connection.nextId();
      const second = connection.nextId();
      connection.send({ op: "kv.get", id: second, key: "conformance/ids" });
      check((await connection.answer(second)).type === "reply", "a request with a growing id should be served");
      connection.send({ op: "kv.get", id: first, key: "conformance/ids" });
      checkError(await connection.answer(first), "BAD_REQUEST", "a request whose id is not above the highest received");
      connection.send({ op: "kv.get", id: second, key: "conformance/ids" });
      checkError(await connection.answer(second), "BAD_REQUEST", "a request repeating the highest id");
    },
  },
  {
    name: "requests.id-zero",
    section: "3 Requests and replies (request ids)",
    async run(kit) {
      // Ids are positive: id 0 is out of range, and its error carries no id (there is no request to settle).
      const { connection } = await kit.session();
      connection.send({ op: "kv.get", id: 0, key: "conformance/ids" });
      const { message } = await connection.next((m) => m.type === "error");
      checkError(message, "OUT_OF_RANGE", "a request with id 0");
      check(!("id" in message), `the error to a request with id 0 carries no id, got ${JSON.stringify(message)}`);
      await connection.call("kv.get", { key: "conformance/ids" });
    },
  },
];

/** A scenario: after hello, `send` writes an unreadable frame; the server answers BAD_REQUEST without id and closes 4000. */
function unreadable(name: string, what: string, send: (connection: RawConnection, id: number) => void): Scenario {
  return {
    name,
    section: "1 Transport (plain msgpack only); 13 Close codes (4000)",
    async run(kit: KitContext) {
      const { connection } = await kit.session();
      send(connection, connection.nextId());
      const { message } = await connection.next((m) => m.type === "error", 5_000, `the error to ${what}`);
      checkError(message, "BAD_REQUEST", what);
      check(!("id" in message), `the error to ${what} carries no id`);
      const closed = await connection.closes();
      check(closed.code === 4000, `${what} should close with 4000, closed with ${closed.code}`);
    },
  };
}

/** `{op:"kv.get", id, key:"k", x: <raw value bytes>}` with `x` unknown to the server. */
function kvGet(id: number, rawValue: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(0x84), encode("op"), encode("kv.get"), encode("id"), encode(id), encode("key"), encode("k"), encode("x"), rawValue);
}

/** `levels` arrays nested in each other, the innermost empty. */
function nested(levels: number): Uint8Array {
  return concat(new Uint8Array(levels - 1).fill(0x91), Uint8Array.of(0x90));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
