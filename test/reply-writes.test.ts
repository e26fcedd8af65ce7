import { Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startServer } from "./support/fixtures.js";
import { Raw } from "./support/raw.js";

/**
 * How the server's replies reach its sockets (connection.ts, `#batched`): the reply to a read's last
 * frame, with nothing batched before it, is written at once, without a cork; the replies to frames read
 * together still leave in one write. Counted on the server's side of one connection (in-process server,
 * its socket's remote port being the client's local port): corks, and trips of data to the kernel.
 */
afterEach(() => {
  vi.restoreAllMocks();
});

describe("writing replies", () => {
  it("writes the reply to a lone request at once (no cork), and the replies to requests read together in one write", async () => {
    const server = await startServer();
    const raw = await Raw.open(server.url);
    await raw.hello();
    const clientPort = (raw.socket as unknown as { _socket: Socket })._socket.localPort;
    const counts = { corks: 0, writes: 0 };
    const ours = (socket: Socket): boolean => socket.remotePort === clientPort;
    const cork = Socket.prototype.cork;
    vi.spyOn(Socket.prototype, "cork").mockImplementation(function (this: Socket) {
      if (ours(this)) counts.corks++;
      cork.call(this);
    });
    // Every trip of a stream's buffered data to the kernel goes through one of these two.
    const write = Socket.prototype._write;
    const writev = Socket.prototype._writev!;
    vi.spyOn(Socket.prototype, "_write").mockImplementation(function (this: Socket, ...args: Parameters<Socket["_write"]>) {
      if (ours(this)) counts.writes++;
      write.apply(this, args);
    });
    vi.spyOn(Socket.prototype, "_writev").mockImplementation(function (this: Socket, ...args: Parameters<NonNullable<Socket["_writev"]>>) {
      if (ours(this)) counts.writes++;
      writev.apply(this, args);
    });

    for (let round = 0; round < 3; round++) {
      const answer = await raw.request({ op: "kv.get", key: `alone-${round}` });
      expect(answer).toMatchObject({ type: "reply", result: { entry: null } });
    }
    // Without writing at once: a cork per reply (3).
    expect(counts).toEqual({ corks: 0, writes: 3 });

    const FRAMES = 8;
    const stream = (raw.socket as unknown as { _socket: Socket })._socket;
    stream.cork();
    const ids = Array.from({ length: FRAMES }, (_, index) => raw.fire({ op: "kv.get", key: `together-${index}` }));
    stream.uncork();
    await vi.waitFor(() => expect(raw.replies().filter((reply) => reply.type === "reply" && ids.includes(reply.id))).toHaveLength(FRAMES));
    // The 8 frames arrive in one read (the client wrote them in one go): their replies leave in one write.
    expect(counts.writes).toBe(3 + 1);
  });
});
