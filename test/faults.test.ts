import { createServer as createTcpServer, type Socket } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { ErrorCode, LeaseholdClient } from "@leasehold/client";
import { defer } from "./support/fixtures.js";
import { singleServerWith } from "./support/target.js";
import { describeFaults, FAULTS_SESSION_GRACE_MS } from "./scenarios/faults.js";

// The client alone against a peer that never answers: no server, so no cluster variant.
describe("faults", () => {
  it("a client closed while its first connection hangs in the handshake rejects open() instead of waiting forever", async () => {
    // A peer that accepts TCP and never answers the upgrade.
    const sockets = new Set<Socket>();
    const silent = createTcpServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    defer(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const address = silent.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const client = new LeaseholdClient(`ws://127.0.0.1:${address.port}`, { autoReconnect: false });
    const opening = client.open();
    await vi.waitFor(() => expect(sockets.size).toBe(1));
    await client.close();
    await expect(opening).rejects.toMatchObject({ code: ErrorCode.CLIENT_CLOSED });
  });
});

describeFaults(singleServerWith({ sessionGraceMs: FAULTS_SESSION_GRACE_MS }));
