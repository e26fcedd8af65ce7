import { describe, expect, it } from "vitest";
import { CloseCode } from "@leasehold/protocol";
import { startClient, startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";

/**
 * The per-frame check of a leader's authority (connection.ts: `commits.serving()` before any frame),
 * on its own. In a gateway two other things also stop a leader whose election lease may have lapsed:
 * the lease keeper's expiry timer (which, measured in gateway-stale-read.test.ts, runs first when a
 * process is woken from SIGSTOP: epoll_wait returns EINTR and libuv runs due timers before it polls
 * again) and the commit pipeline's check before it releases replies (durable storage only). Here
 * neither can act: the authority lapses with no timer to say so, as when a leader's event loop was
 * starved past its deadline, and the store is in memory, so that a reply goes out without a commit.
 * Only the per-frame check stands between the frame and an answer from state another may have replaced.
 */
describe("a server whose serving authority has lapsed", () => {
  it("answers no frame, not even a read that needs no commit, and closes with 1012", async () => {
    let lapsed = false;
    const server = await startServer({
      authority: {
        check() {
          if (lapsed) throw new Error("the election lease may have lapsed in etcd");
        },
      },
    });
    const writer = await startClient(server.url);
    await writer.put("config", "old");
    const held = await writer.locks.acquire("stale", (await writer.leases.grant(10_000)).id);
    expect(held.acquired).toBe(true);
    const reader = await Raw.open(server.url);
    await reader.hello();

    lapsed = true;
    const get = reader.fire({ op: "kv.get", key: "config" });
    const query = reader.fire({ op: "lock.query", prefix: "stale" });
    expect((await reader.closed()).code).toBe(CloseCode.SERVICE_RESTART);
    const answered = reader.received.filter((message) => (message.type === "reply" || message.type === "error") && (message.id === get || message.id === query));
    expect(answered).toEqual([]);
  });
});
