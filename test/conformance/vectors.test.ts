import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fromTagged, kitDecode, RawConnection, type InvalidFrameVector, type MessageVector } from "@leasehold/conformance";
import { ClientMessage, decodeClientMessage, decodeServerMessage, encode, ServerMessage } from "@leasehold/protocol";
import { defer, repoRoot, startServer } from "../support/fixtures.js";

const load = <T>(file: string): T => JSON.parse(readFileSync(`${repoRoot}/conformance/vectors/${file}`, "utf8")) as T;
const clientVectors = load<MessageVector[]>("client-messages.json");
const serverVectors = load<MessageVector[]>("server-messages.json");
const invalidFrames = load<InvalidFrameVector[]>("invalid-frames.json");
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));

describe("test vectors (conformance/vectors)", () => {
  it("cover every client op and every server message type", () => {
    const inVectors = {
      ops: new Set(clientVectors.map((v) => (v.value as { op: string }).op)),
      types: new Set(serverVectors.map((v) => (v.value as { type: string }).type)),
    };
        const ops = ClientMessage._zod.def.options.map((o) => o._zod.def.shape.op._zod.def.values[0]);
    const types = ServerMessage._zod.def.options.map((o) => o._zod.def.shape.type._zod.def.values[0]);
    expect([...inVectors.ops].sort()).toEqual(ops.sort());
    expect([...inVectors.types].sort()).toEqual(types.sort());
  });

  it.each([...clientVectors, ...serverVectors].map((v) => [`${v.direction} ${v.name}`, v] as const))("%s: our encoder writes exactly its bytes; both decoders read them as its value", (_name, vector) => {
    const value = fromTagged(vector.value);
    expect(Buffer.from(encode(value)).toString("hex")).toBe(vector.msgpack);
    for (const encoding of [vector.msgpack, ...(vector.alsoValid ?? [])]) {
      expect(kitDecode(bytes(encoding))).toEqual(value);
      const decoded = vector.direction === "client" ? decodeClientMessage(bytes(encoding)) : decodeServerMessage(bytes(encoding));
      expect(decoded).toMatchObject({ ok: true });
    }
  });

  it.each(invalidFrames.map((v) => [v.name, v] as const))("invalid frame %s: our server answers its error and close code", async (_name, vector) => {
    const server = await startServer();
    const connection = await RawConnection.open(server.url);
    defer(() => connection.close());
    if (vector.afterHello) {
      connection.send({ op: "hello", version: 1 });
      await connection.next((m) => m.type === "welcome");
    }
    if (vector.text !== undefined) connection.sendText(vector.text);
    else connection.sendBytes(bytes(vector.msgpack!));
    const { message } = await connection.next((m) => m.type === "error");
    expect({ code: message.code, id: message.id ?? null }).toEqual({ code: vector.error, id: vector.errorId });
    if (vector.close === null) {
      connection.send({ op: "kv.get", id: 100, key: "still-open" });
      expect((await connection.answer(100)).type).toBe("reply");
    } else {
      expect((await connection.closes()).code).toBe(vector.close);
    }
  });
});
