/**
 * Refusals a flood repeats are encoded once (connection/encoded-refusals.ts): the answers stay those of
 * every frame, in order behind the replies that wait for a commit, with durable storage as in memory.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, encode } from "@leasehold/protocol";
import { dataDir, startServer } from "./support/fixtures.js";
import { Raw } from "./support/raw.js";

describe("repeated frames and their refusals", () => {
  for (const storage of ["memory", "durable"] as const) {
    it(`${storage}: each repeat is answered in its place, and a repeated request runs once`, async () => {
      const server = await startServer(storage === "durable" ? { dataDir: dataDir() } : {});
      const raw = await Raw.open(server.url);
      await raw.hello();
      const from = raw.received.length;
      const put = encode({ op: "kv.put", id: 1, key: "repeated", value: 1 });
      const junk = encode({ op: "no.such.op", id: 2 });
      // In one write: a put (whose reply waits for its commit when durable), the same frame twice
      // (stale), a frame that does not decode twice, and a fresh request.
      const socket = (raw.socket as unknown as { _socket: import("node:net").Socket })._socket;
      socket.cork();
      for (const frame of [put, put, put, junk, junk]) raw.sendRaw(frame);
      raw.send({ op: "kv.get", id: 3, key: "repeated" });
      socket.uncork();
      await raw.next((message) => message.type === "reply" && message.id === 3, { from });
      const answers = raw.received.slice(from).map((message) => [message.type, "id" in message ? message.id : undefined, message.type === "error" ? message.code : undefined]);
      expect(answers).toEqual([
        ["reply", 1, undefined],
        ["error", 1, ErrorCode.BAD_REQUEST],
        ["error", 1, ErrorCode.BAD_REQUEST],
        ["error", 2, ErrorCode.UNKNOWN_OP],
        ["error", 2, ErrorCode.UNKNOWN_OP],
        ["reply", 3, undefined],
      ]);
      const errors = raw.received.slice(from).filter((message) => message.type === "error");
      expect(errors[0]).toEqual(errors[1]);
      expect(errors[0]).toMatchObject({ message: expect.stringContaining("request id 1 is not above this session's last request id 1") });
      expect(errors[2]).toEqual(errors[3]);
      // The put ran once: its revision is the first write's.
      const got = raw.received.find((message) => message.type === "reply" && message.id === 3);
      expect(got).toMatchObject({ result: { entry: { value: 1, revision: 1 } } });
      expect(raw.close).toBeUndefined();
    });
  }
});
