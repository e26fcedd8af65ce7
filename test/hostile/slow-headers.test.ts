/**
 * An HTTP request sent one header line at a time dies at the handshake deadline, and connections that
 * never upgrade count against the per-address limit. Before: such requests lived 33 s under a 10 s
 * deadline (Node checks header deadlines every 30 s unless told), and were not counted per address.
 */
import { describe, expect, it, vi } from "vitest";
import { CloseCode, PROTOCOL_VERSION } from "@leasehold/protocol";
import { Raw } from "../support/raw.js";
import { Bystander, measureControl, openTcp, startTarget, watchMemory } from "./support.js";

const HANDSHAKE_MS = 1_000;
const SLOW = 4;

describe("requests trickled one header line at a time", () => {
  it("are cut off within a few handshake deadlines, and count against --max-connections-per-address", async () => {
    const target = await startTarget(["--memory", "--handshake-timeout", String(HANDSHAKE_MS), "--max-connections-per-address", String(SLOW + 1)]);
    const control = await measureControl(target.url);
    const bystander = await Bystander.start(target.url);
    const memory = watchMemory(target);
    const trickles = await Promise.all(Array.from({ length: SLOW }, () => openTcp(target.url)));
    const timers = trickles.map((trickle, index) => {
      trickle.socket.write("GET / HTTP/1.1\r\n");
      let line = 0;
      // A new header line every 200 ms: never idle long enough for an idle timeout.
      return setInterval(() => trickle.socket.write(`X-Slow-${index}-${line++}: 1\r\n`), 200);
    });
    try {
      // The bystander and the trickles take every place: one more WebSocket is refused.
      const extra = await Raw.open(target.url);
      expect((await extra.closed()).code).toBe(CloseCode.TOO_MANY_SESSIONS);
      const lifetimes = await Promise.all(trickles.map((trickle) => trickle.ended));
      // Measured: 1.2 s under a 1 s deadline; before, 30-33 s whatever the deadline.
      expect(Math.max(...lifetimes), "longest a trickled request lived (ms)").toBeLessThan(HANDSHAKE_MS * 4);
      expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(HANDSHAKE_MS * 0.9);
    } finally {
      for (const timer of timers) clearInterval(timer);
    }
    // Their places are free again, once the server has seen their sockets close: under load, a while after
    // the clients have (the refused extra's above included), so a hello that still finds no place is tried again.
    await vi.waitFor(
      async () => {
        const after = await Raw.open(target.url);
        try {
          after.send({ op: "hello", version: PROTOCOL_VERSION, agent: "raw" });
          const answer = await after.next((message) => message.type === "welcome" || message.type === "error");
          expect(answer.type, JSON.stringify(answer)).toBe("welcome");
        } finally {
          after.socket.terminate();
        }
      },
      { timeout: 5_000, interval: 100 },
    );
    // Measured: +0.5 MB. Node bounds a request's headers (16 KiB); the deadline bounds how long they are held.
    expect(memory.stop(), "server memory growth at its peak").toBeLessThan(16 * 1024 * 1024);
    await bystander.expectUnharmed(control);
    expect(target.alive()).toBe(true);
  });
});
