import { encode as independentEncode } from "@msgpack/msgpack";
import { describe, expect, it, vi } from "vitest";
import type { LeaseholdClient } from "@leasehold/client";
import { CloseCode, ErrorCode } from "@leasehold/protocol";
import { spawnScript, startClient, startServer } from "../support/fixtures.js";
import { Raw } from "../support/raw.js";
import { inspectOver, sessionIn } from "../support/inspect.js";
import { busyCore } from "../hostile/support.js";
import { describeQuotas, QUOTA_KEYS_PER_PRINCIPAL } from "../scenarios/quotas.js";
import { singleServerWith } from "../support/target.js";

/** Latencies of `count` sequential round trips, in ms, sorted. */
async function roundTrips(client: LeaseholdClient, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await client.counters.get("calm");
    times.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return times.sort((a, b) => a - b);
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

// The key quota runs against one server and a cluster through a follower (test/scenarios/quotas.ts). Single-node:
// the flood (it measures a bystander's latency against one server process), the request budget's exceptions and the
// connection count (test/cluster/e2e-addresses.test.ts counts relayed connections), and the slow reader (through a
// follower, test/cluster/relay-multiplex.test.ts cuts one off with 4006).
describeQuotas(singleServerWith({ limits: { maxKeysPerPrincipal: QUOTA_KEYS_PER_PRINCIPAL } }));

describe("quotas and back-pressure", () => {
  it("a flooding session is answered RATE_LIMITED and slowed (or, if it gets far past its budget, cut off with 4008), while another session's latency stays normal", async () => {
    // Low enough that a starved server still reads the flood faster than the rate (at 500 a second
    // and a load of 30 it never answered RATE_LIMITED); the calm session's pauses keep it below.
    const rate = 200;
    const server = await startServer({ limits: { maxRequestsPerSecond: rate, requestBurst: 100 } });
    const calm = await startClient(server.url);
    await roundTrips(calm, 50); // warm up
    // The control: the same round trips while a process that sends nothing keeps one core busy, as
    // the flooder's process does (the machine's load, not the server, is most of a tail here).
    const [baseline] = await Promise.all([roundTrips(calm, 150), busyCore(1_000)]);

    const flooder = spawnScript("./flooder.ts", [server.url, "3000"]);
    await flooder.next((line) => line.event === "flooding");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const during = await roundTrips(calm, 150);
    const tally = await flooder.next((line) => line.event === "done", 20_000);

    // The flooder was told to slow down, and got no more than its budget through. Held back by TCP it
    // may never get far enough past its budget to be cut off; if it does, the close says why.
    const { reply: ok = 0, RATE_LIMITED: limited = 0, ...other } = tally.codes as Record<string, number>;
    expect(limited).toBeGreaterThan(0);
    expect(ok).toBeLessThanOrEqual(100 + (rate * (tally.elapsedMs as number)) / 1000 * 1.2);
    expect(other).toEqual({});
    expect(tally.unreadable).toBe(0);
    expect([0, CloseCode.RATE_LIMITED]).toContain(tally.closed);
    // Reading from it stopped while it was over budget, so it could not even send much.
    expect(ok + limited).toBeLessThan(tally.sent as number);
    // The calm session never waited behind it: its median and its total time waiting (the tail, summed:
    // a single slowest answer is the machine's noise as much as the server's) stay near the control's.
    const total = (times: number[]) => times.reduce((sum, time) => sum + time, 0);
    const summary = { control: [quantile(baseline, 0.5), total(baseline)], during: [quantile(during, 0.5), total(during)] };
    expect(quantile(during, 0.5), JSON.stringify(summary)).toBeLessThan(quantile(baseline, 0.5) * 4 + 1);
    expect(total(during), JSON.stringify(summary)).toBeLessThan(total(baseline) * 4 + 50);
  });

  it("bye and cancel get through even when the budget is spent", async () => {
    const server = await startServer({ limits: { maxRequestsPerSecond: 1, requestBurst: 3 } });
    const raw = await Raw.open(server.url);
    await raw.hello();
    const answers = await Promise.all([1, 2, 3, 4].map(() => raw.request({ op: "counter.get", name: "c" })));
    expect(answers.map((answer) => (answer.type === "error" ? answer.code : "ok"))).toEqual(["ok", "ok", "ok", ErrorCode.RATE_LIMITED]);
    expect(await raw.request({ op: "cancel", target: 99 })).toMatchObject({ type: "reply" });
    expect(await raw.request({ op: "bye" })).toMatchObject({ type: "reply" });
    expect((await raw.closed()).code).toBe(CloseCode.NORMAL);
  });

  it("a frame refused anyway (a stale id, an unknown op) takes ten frames of the budget; bye and cancel still get through, and 4008 still comes past the overdraft", async () => {
    // Frames from an independent encoder, as an attacker would write them. With a budget of 100 (and a
    // refill of 10 a second), one request leaves 99: nine stale frames leave 9, the tenth is still
    // answered (it leaves the bucket in debt), the eleventh finds it empty; the socket is then not read
    // for 200 ms, or until the debt is paid off, which may let one more through now and then. At one
    // token each, all 20 would be answered BAD_REQUEST.
    const server = await startServer({ limits: { maxRequestsPerSecond: 10, requestBurst: 100 } });
    const raw = await Raw.open(server.url);
    await raw.hello();
    expect(await raw.request({ op: "counter.get", name: "c" })).toMatchObject({ type: "reply" });
    for (let i = 0; i < 19; i++) raw.sendRaw(independentEncode({ op: "counter.get", id: 1, name: "c" }));
    raw.sendRaw(independentEncode({ op: "no.such.op", id: 2 }));
    await vi.waitFor(() => expect(raw.errorsBeforeClose().length).toBeGreaterThanOrEqual(20), { timeout: 10_000 });
    const codes = raw.errorsBeforeClose().map((error) => error.code);
    const refused = codes.filter((code) => code === ErrorCode.BAD_REQUEST || code === ErrorCode.UNKNOWN_OP).length;
    // (The eleventh is RATE_LIMITED unless the server stalled 200 ms first; each further refusal needs a second's refill.)
    expect(codes.slice(0, 10), JSON.stringify(codes)).toEqual(Array<string>(10).fill(ErrorCode.BAD_REQUEST));
    expect(refused, JSON.stringify(codes)).toBeLessThanOrEqual(13);
    expect(codes.filter((code) => code === ErrorCode.RATE_LIMITED).length, JSON.stringify(codes)).toBe(20 - refused);
    // Giving up still works past the budget: a cancel within the overdraft (100, 10 or so spent), a bye always.
    raw.lastId = 2;
    expect(await raw.request({ op: "cancel", target: 99 })).toMatchObject({ type: "reply" });
    expect(await raw.request({ op: "bye" })).toMatchObject({ type: "reply" });
    expect((await raw.closed()).code).toBe(CloseCode.NORMAL);
    // Past the overdraft as well, the flood is cut off with 4008, as any other.
    const flooder = await Raw.open(server.url);
    await flooder.hello();
    for (let i = 0; i < 300; i++) flooder.sendRaw(independentEncode({ op: "counter.get", id: 0, name: "c" }));
    expect((await flooder.closed()).code).toBe(CloseCode.RATE_LIMITED);
  });

  it("a client that stops reading is cut off with 4006 without the server's memory growing; its lease then expires as usual", async () => {
    const maxBacklogBytes = 1024 * 1024;
    // Watches would pause at 4 MiB of backlog by default; here only the backlog cap stands in the way.
    const server = await startServer({ limits: { maxBacklogBytes }, watch: { pauseBytes: 1024 * 1024 * 1024 } });
    const reader = await Raw.open(server.url);
    const welcome = await reader.hello();
    const lease = await reader.request({ op: "lease.grant", ttl: 1_000 });
    expect(lease.type).toBe("reply");
    await reader.request({ op: "watch", prefix: "firehose/" });
    // The reader stops reading from its TCP socket: everything sent to it piles up on the server.
    (reader.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    // Keep the lease's session alive from the reader's side for now: it still sends, it only does not read.
    const pongs = setInterval(() => reader.send({ op: "pong", seq: 0 }), 50);

    const writer = await startClient(server.url);
    const value = "x".repeat(32 * 1024);
    const before = process.memoryUsage();
    let written = 0;
    const connected = async () => sessionIn(await inspectOver(server.url), welcome.session)?.connected;
    while ((await connected()) === true && written < 64 * 1024 * 1024) {
      await Promise.all(Array.from({ length: 32 }, (_, i) => writer.put(`firehose/${i}`, value)));
      written += 32 * value.length;
    }
    const after = process.memoryUsage();
    clearInterval(pongs);
    expect(await connected(), "the slow reader should have been detached").toBe(false);
    // Cut off within a few MiB of the cap, far from the 64 MiB it would otherwise have been sent.
    expect(written).toBeLessThan(maxBacklogBytes * 8);
    expect(after.rss - before.rss).toBeLessThan(48 * 1024 * 1024);
    // The other sessions go on; the reader's lease expires by its TTL like any silent client's.
    expect((await writer.put("firehose/after", 1)).revision).toBeGreaterThan(0);
    await vi.waitFor(async () => expect((await inspectOver(server.url)).leases).toEqual([]), { timeout: 5_000, interval: 50 });
    // When it reads again it finds the close code at the end of what was sent before the cut.
    (reader.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    expect((await reader.closed()).code).toBe(CloseCode.SLOW_CONSUMER);
    expect(reader.unreadable).toEqual([]);
  });

  it("connections per address: the one past the limit gets LIMIT_EXCEEDED and close 4005", async () => {
    const server = await startServer({ limits: { maxConnectionsPerAddress: 3 } });
    const open = await Promise.all([1, 2, 3].map(() => Raw.open(server.url)));
    const extra = await Raw.open(server.url);
    expect((await extra.closed()).code).toBe(CloseCode.TOO_MANY_SESSIONS);
    expect(extra.received).toEqual([expect.objectContaining({ type: "error", code: ErrorCode.LIMIT_EXCEEDED })]);
    // Closing one frees its place.
    open[0]!.socket.close();
    await open[0]!.closed();
    await vi.waitFor(async () => {
      const again = await Raw.open(server.url);
      await again.hello();
    });
  });
});
