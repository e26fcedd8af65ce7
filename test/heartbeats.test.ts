import { CloseCode, encode, readPong, type ServerMessage } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { startServer } from "./support/fixtures.js";
import { Raw } from "./support/raw.js";

type Ping = Extract<ServerMessage, { type: "ping" }>;
const isPing = (message: ServerMessage): message is Ping => message.type === "ping";

/**
 * Pings are written as prebuilt frames and plain pongs read without the decoder (connection/ping-frame.ts,
 * protocol/src/pong-reader.ts): the rules of PROTOCOL.md section 5 and of the request rate hold on that path.
 */
describe("heartbeats on the fast paths", () => {
  it("a plain pong is acknowledged by the next ping's ack, and pings count up from 1", async () => {
    const server = await startServer({ heartbeatMs: 100 });
    const raw = await Raw.open(server.url);
    await raw.hello();
    const first = (await raw.next(isPing)) as Ping;
    expect(first).toEqual({ type: "ping", seq: 1, ack: 0 });
    const pong = encode({ op: "pong", seq: 1 });
    expect(readPong(pong), "the pong this test sends is the fast path's form").toBe(1);
    raw.sendRaw(pong);
    const acked = (await raw.next((message) => isPing(message) && message.ack === 1)) as Ping;
    expect(acked.seq).toBeGreaterThan(1);
  });

  it("plain pongs count against the session's rate like any frame: a flood of them is cut off with 4008", async () => {
    const server = await startServer({ limits: { maxRequestsPerSecond: 1, requestBurst: 3 } });
    const raw = await Raw.open(server.url);
    await raw.hello();
    for (let i = 0; i < 50; i++) raw.sendRaw(encode({ op: "pong", seq: 0 }));
    expect((await raw.closed()).code).toBe(CloseCode.RATE_LIMITED);
  });
});
