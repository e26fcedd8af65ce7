/**
 * A request the server refuses must not come back after every resume. Before: a request whose frame
 * closed the connection with 4000 was re-sent on each resume, closed it again, and so on (109
 * reconnects in 3 s); refused requests the server could read were not counted as received either.
 */
import { describe, expect, it } from "vitest";
import { BadRequestError, type ConnectOptions } from "@leasehold/client";
import { ErrorCode, PROTOCOL_VERSION, decode, type ClientMessage } from "@leasehold/protocol";
import { startClient, startServer } from "../support/fixtures.js";
import { Raw, WebSocket } from "../support/raw.js";
import { inspectOver } from "../support/inspect.js";

const WATCH_MS = 3_000;

describe("refused requests are not re-sent by a resume", () => {
  it("a request whose frame the server cannot read fails with the server's error, without a reconnect loop", async () => {
    const server = await startServer();
    let dials = 0;
    // A client whose `kv.put` of "poison" goes out cut short, not valid msgpack (as a client bug, or a
    // value the server's decoder refuses, would): the server can read neither it nor its id.
    class PoisoningWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        dials++;
        const send = this.send.bind(this);
        this.send = ((data: Uint8Array) => send(isPoison(data) ? data.subarray(0, data.length - 1) : data)) as typeof this.send;
      }
    }
    const client = await startClient(server.url, { WebSocket: PoisoningWebSocket as unknown as ConnectOptions["WebSocket"] });
    const outcome = client.put("poison", 1).then(
      () => "stored",
      (error: unknown) => error,
    );
    // Absence of reconnects can only be watched for a while.
    await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
    expect(dials, "connections the client opened").toBeLessThanOrEqual(2);
    const error = await outcome;
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ code: ErrorCode.BAD_REQUEST });
    // The session carries on.
    expect((await client.put("fine", 1)).revision).toBeGreaterThan(0);
    expect((await inspectOver(server.url)).sessions.map((session) => session.session)).toEqual([client.sessionId]);
  });

  it("every request id the server reads counts as received, refused or not, so a resume re-sends none of them", async () => {
    // A burst of 11: each of the two refused frames takes ten tokens (PROTOCOL.md 17.3), the second the last one.
    const server = await startServer({ limits: { maxRequestsPerSecond: 1, requestBurst: 11 } });
    const raw = await Raw.open(server.url);
    const welcome = await raw.hello();
    const answers = await Promise.all([
      raw.request({ op: "no.such.op" }), // UNKNOWN_OP, id readable
      raw.request({ op: "lease.grant", ttl: "long" }), // BAD_REQUEST, id readable
      raw.request({ op: "counter.get", name: "c" }), // past the budget: RATE_LIMITED
    ]);
    expect(answers.map((answer) => (answer.type === "error" ? answer.code : answer.type))).toEqual([ErrorCode.UNKNOWN_OP, ErrorCode.BAD_REQUEST, ErrorCode.RATE_LIMITED]);
    raw.socket.terminate();

    const again = await Raw.open(server.url);
    again.send({ op: "hello", version: PROTOCOL_VERSION, agent: "raw", resume: { session: welcome.session, secret: welcome.secret } });
    const resumed = await again.next((message) => message.type === "welcome");
    expect(resumed).toMatchObject({ type: "welcome", resumed: true, resync: { lastRequest: 3 } });
  });
});

function isPoison(frame: Uint8Array): boolean {
  const message = decode(frame) as ClientMessage;
  return message.op === "kv.put" && message.key === "poison";
}
