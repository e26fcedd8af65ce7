import { describe, expect, it } from "vitest";
import { connect } from "@leasehold/client";
import { BOUNDS, ErrorCode } from "@leasehold/protocol";
import type { WebSocketServer as WsServer } from "../../packages/server/node_modules/@types/ws/index.js";
import { defer } from "../support/fixtures.js";
import { fixintArray } from "../support/hostile-frames.js";
import { WebSocket } from "../support/raw.js";

// `ws` comes from the server package (as in test/support/raw.ts); its server class rides on the same export.
const { WebSocketServer } = WebSocket;

/**
 * `BOUNDS.maxFrameNodes` guards the direction where frames have no size limit: a server's replies. A
 * hostile (or broken) server answers hello with one frame of 2^24 + 1 values (16 MB); the client must
 * refuse it from the scan, before msgpackr builds an array of 16 million numbers. The unit test
 * (packages/protocol/src/frame-scan.test.ts) checks the boundary with a small bound; this one checks
 * that the real bound is the one applied, at its real size (about 1 s of scanning: an attack-tier cost).
 */
describe("a server reply with more values than BOUNDS.maxFrameNodes", () => {
  it("is refused by the client with NOT_CONNECTED, naming the bound", async () => {
    const wss: WsServer = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    await new Promise<void>((resolve) => wss.once("listening", resolve));
    // The answer to hello: an array32 of 2^24 fixints, 2^24 + 1 values with the array itself.
    wss.on("connection", (socket) => socket.once("message", () => socket.send(fixintArray(BOUNDS.maxFrameNodes))));
    const address = wss.address();
    if (address === null || typeof address === "string") throw new Error("the hostile server has no port");

    const refusal = await connect(`ws://127.0.0.1:${address.port}`).then(
      (client) => {
        defer(() => client.close());
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(refusal).toMatchObject({ code: ErrorCode.NOT_CONNECTED, message: expect.stringMatching(new RegExp(`more than ${BOUNDS.maxFrameNodes} values`)) });
  });
});
