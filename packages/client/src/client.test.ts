import { FakeClock } from "@leasehold/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { LeaseholdClient } from "./client.js";
import { FakeSocket } from "./fake-socket.test-support.js";

afterEach(() => FakeSocket.reset());

describe("LeaseholdClient.close", () => {
  it("waits for the bye's answer on the client's clock, at most 2 s, then closes the socket", async () => {
    const clock = new FakeClock(0);
    const client = new LeaseholdClient("ws://a", { WebSocket: FakeSocket, clock, pageLifecycle: false });
    const opened = client.open();
    const socket = FakeSocket.last();
    socket.welcome();
    await opened;
    let closed = false;
    const closing = client.close().then(() => (closed = true));
    expect(socket.sent.at(-1)).toMatchObject({ op: "bye" });
    clock.advance(1_999);
    await flush();
    expect(closed).toBe(false);
    // The server never answers: the fake clock alone ends the wait (a raw setTimeout would hold it 2 real seconds).
    clock.advance(1);
    await flush();
    expect(closed).toBe(true);
    await closing;
    expect(socket.closedWith?.code).toBe(1000);
    expect(clock.pending).toBe(0);
    expect(client.state).toEqual({ kind: "closed", code: 1000, reason: "bye" });
    await expect(client.open()).rejects.toMatchObject({ code: "CLIENT_CLOSED" });
  });

  it("closes as soon as the bye is answered, leaving no timer behind", async () => {
    const clock = new FakeClock(0);
    const client = new LeaseholdClient("ws://a", { WebSocket: FakeSocket, clock, pageLifecycle: false });
    const opened = client.open();
    const socket = FakeSocket.last();
    socket.welcome();
    await opened;
    const closing = client.close();
    const bye = socket.sent.at(-1);
    expect(bye).toMatchObject({ op: "bye" });
    socket.receive({ type: "reply", id: bye!.id as number, result: {} });
    await closing;
    expect(client.state.kind).toBe("closed");
    expect(clock.pending).toBe(0);
  });
});

/** Lets promise callbacks run (a few turns of the microtask queue, no timers). */
async function flush(): Promise<void> {
  for (let turn = 0; turn < 10; turn++) await Promise.resolve();
}
