import { ConflictError, ErrorCode, LimitExceededError, type WatchEvent } from "@leasehold/client";
import { describe, expect, test, vi } from "vitest";
import { controllableSockets, drain, useHarness } from "./fixtures/harness.js";
import { inspectOver, sessionIn } from "../support/inspect.js";
import { singleServer } from "../support/target.js";
import { describeWatch, expectInOrderExactlyOnce, reconnected, writeJobs } from "../scenarios/watch.js";

describeWatch(singleServer);

// These stay single-node: each needs a server option that `serve` does not take (watch history length,
// a watcher's pause threshold, watches per session), or a session grace and heartbeat so short that the
// other scenarios of a shared cluster would lose their sessions to a busy moment.
const harness = useHarness();

describe("watch, on a server with options of its own", () => {
  test("re-opens from the last revision after the session expired and a new one began", async () => {
    // Only the cut-off watcher's session may expire, and the writer's connection must never drop (a put in
    // flight would then fail as OUTCOME_UNKNOWN). With a grace of 200 ms the writer's session expired too,
    // once in seven runs at a load of 13; with 50 ms heartbeats its client heard nothing for three of them
    // (150 ms: what a client gives a link) at a load of 25 and dropped it. The server's heartbeats are a third
    // of the grace (333 ms), which gives a client 1 s of a stalled event loop.
    const server = await harness.server({ sessionGraceMs: 1_000 });
    const sockets = controllableSockets();
    const watcher = await harness.client(server, { WebSocket: sockets.WebSocket });
    const writer = await harness.client(server);
    const watch = watcher.watch("job:");
    await watch.ready;
    const events: WatchEvent[] = [];
    const done = drain(watch, events);

    const revisions = await writeJobs(writer, 200, async (written) => {
      if (written !== 100) return;
      sockets.blocked = true;
      const expired = reconnected(watcher, "expired");
      watcher.dropConnection();
      await vi.waitFor(async () => expect(sessionIn(await inspectOver(server.url), watcher.sessionId)).toBeUndefined(), { timeout: 5_000, interval: 20 });
      sockets.blocked = false;
      // The network is back: dial now, as an application told so would, rather than after the backoff wait.
      watcher.wake();
      await expired;
    });
    await vi.waitFor(() => expect(events.at(-1)?.revision).toBe(revisions.at(-1)), { timeout: 10_000, interval: 20 });
    expectInOrderExactlyOnce(events, revisions);
    watch.close();
    expect(await done).toBeUndefined();
  });

  test("fromRevision replays history; a revision no longer kept is COMPACTED", async () => {
    const server = await harness.server({ watch: { historyEvents: 20 } });
    const client = await harness.client(server);
    const first = await client.put("job:a", 1);
    await client.put("other", 2);
    await client.delete("job:a");
    const replay = client.watch("job:", { fromRevision: first.revision });
    const events: WatchEvent[] = [];
    const done = drain(replay, events);
    await replay.ready;
    const live = await client.put("job:b", 3);
    await vi.waitFor(() => expect(events).toHaveLength(3));
    expect(events.map((event) => [event.type, event.key])).toEqual([
      ["put", "job:a"],
      ["delete", "job:a"],
      ["put", "job:b"],
    ]);
    expect(events[2]!.revision).toBe(live.revision);
    replay.close();
    await done;

    for (let index = 0; index < 40; index++) await client.put(`job:${index}`, index);
    const stale = client.watch("job:", { fromRevision: first.revision });
    const error = await drain(stale, []);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: ErrorCode.COMPACTED });
    await expect(stale.ready).rejects.toBeInstanceOf(ConflictError);
  });

  test("a watcher that stops reading is dropped with WATCH_OVERFLOW, after the changes it did get, in order", async () => {
    const server = await harness.server({ watch: { historyEvents: 50, pauseBytes: 64 * 1024 } });
    const sockets = controllableSockets();
    const watcher = await harness.client(server, { WebSocket: sockets.WebSocket });
    const writer = await harness.client(server);
    const watch = watcher.watch("big:");
    await watch.ready;
    sockets.current!.pause();

    const value = "x".repeat(48 * 1024);
    const revisions: number[] = [];
    let overflowed = false;
    for (let index = 0; index < 2_000 && !overflowed; index += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, (_, offset) => writer.put(`big:${index + offset}`, value)));
      revisions.push(...batch.map((result) => result.revision));
      overflowed = sessionIn(await inspectOver(server.url), watcher.sessionId)?.subscriptions === 0;
    }
    expect(overflowed).toBe(true);
    // The server holds no backlog of its own for the dropped watcher.
    expect((await inspectOver(server.url)).history).toBeLessThanOrEqual(50);

    sockets.current!.resume();
    const events: WatchEvent[] = [];
    const error = await drain(watch, events);
    expect(error).toBeInstanceOf(LimitExceededError);
    expect(error).toMatchObject({ code: ErrorCode.WATCH_OVERFLOW });
    expect(events.length).toBeGreaterThan(0);
    expect(events.map((event) => event.revision)).toEqual(revisions.slice(0, events.length));
  });

  test("watches count against maxWatchesPerSession and close frees them", async () => {
    const server = await harness.server({ limits: { maxWatchesPerSession: 2 } });
    const client = await harness.client(server);
    const a = client.watch("a");
    const b = client.elections.observe("b");
    await Promise.all([a.ready, b.ready]);
    const c = client.watch("c");
    await expect(c.ready).rejects.toBeInstanceOf(LimitExceededError);
    a.close();
    const d = client.watch("d");
    await d.ready;
    // d and the observer b: two open, as many as allowed.
    expect(sessionIn(await inspectOver(server.url), client.sessionId)?.subscriptions).toBe(2);
    d.close();
    b.close();
    await vi.waitFor(async () => expect(sessionIn(await inspectOver(server.url), client.sessionId)?.subscriptions).toBe(0));
  });
});
