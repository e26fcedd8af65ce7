import { ConflictError, ErrorCode, LimitExceededError, type LeaseholdClient, type WatchEvent } from "@leasehold/client";
import { describe, expect, test, vi } from "vitest";
import { controllableSockets, drain, useHarness } from "./fixtures/harness.js";
import { inspectOver, sessionIn } from "../support/inspect.js";

const harness = useHarness();

function reconnected(client: LeaseholdClient, event: "reconnected" | "expired" = "reconnected"): Promise<void> {
  return new Promise((resolve) => client.addEventListener(event, () => resolve(), { once: true }));
}

/** Writes `count` changes under "job:" (puts and deletes) and a few elsewhere; returns the revisions under "job:". */
async function writeJobs(writer: LeaseholdClient, count: number, onProgress: (done: number) => Promise<void> | void): Promise<number[]> {
  const revisions: number[] = [];
  for (let index = 0; index < count; index += 10) {
    const batch = await Promise.all(
      Array.from({ length: 10 }, (_, offset) => {
        const step = index + offset;
        if (step % 7 === 3) return writer.delete(`job:${step % 13}`).then((result) => (result.deleted ? result.revision : undefined));
        if (step % 11 === 5) return writer.put(`other:${step}`, step).then(() => undefined);
        return writer.put(`job:${step % 13}`, { step }).then((result) => result.revision);
      }),
    );
    for (const revision of batch) if (revision !== undefined) revisions.push(revision);
    await onProgress(index + 10);
  }
  return revisions;
}

function expectInOrderExactlyOnce(events: WatchEvent[], revisions: number[]) {
  const seen = events.map((event) => event.revision);
  expect(seen).toEqual([...revisions].sort((a, b) => a - b));
  expect(events.every((event) => event.key.startsWith("job:"))).toBe(true);
}

describe("watch", () => {
  test("delivers every change under the prefix in revision order, exactly once, across forced reconnects", async () => {
    const server = await harness.server();
    const [watcher, writer] = await harness.clients(server, 2);
    const watch = watcher!.watch("job:");
    await watch.ready;
    const events: WatchEvent[] = [];
    const done = drain(watch, events);

    let drops = 0;
    const revisions = await writeJobs(writer!, 600, async (written) => {
      if (written % 100 !== 0) return;
      drops++;
      const back = reconnected(watcher!);
      watcher!.dropConnection();
      // Every other time, keep writing while the watcher is away.
      if (drops % 2 === 0) await back;
    });
    const sentinel = await writer!.put("job:sentinel", "end");
    revisions.push(sentinel.revision);
    await vi.waitFor(() => expect(events.at(-1)?.revision).toBe(sentinel.revision), { timeout: 10_000, interval: 20 });

    expect(drops).toBe(6);
    expectInOrderExactlyOnce(events, revisions);
    // Deletes carry no value; puts carry theirs.
    expect(events.filter((event) => event.type === "delete").every((event) => event.value === undefined)).toBe(true);
    expect(events.find((event) => event.type === "put")?.value).toEqual({ step: expect.any(Number) });
    watch.close();
    expect(await done).toBeUndefined();
  });

  test("re-opens from the last revision after the session expired and a new one began", async () => {
    // Heartbeats well inside the grace period, so that only the cut-off watcher's session expires: with a
    // grace of 200 ms the writer's session expired too, once in seven runs with three e2e workers at a load of 13.
    const server = await harness.server({ sessionGraceMs: 1_000, heartbeatMs: 50 });
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

  test("a reader that falls bufferSize events behind gets LimitExceededError after the buffered ones", async () => {
    const server = await harness.server();
    const client = await harness.client(server);
    const watch = client.watch("k:", { bufferSize: 5 });
    await watch.ready;
    for (let index = 0; index < 10; index++) await client.put(`k:${index}`, index);
    await client.put("sync", 0); // one more round trip: every event above has been received
    const events: WatchEvent[] = [];
    const error = await drain(watch, events);
    expect(events.map((event) => event.key)).toEqual(["k:0", "k:1", "k:2", "k:3", "k:4"]);
    expect(error).toBeInstanceOf(LimitExceededError);
    await vi.waitFor(async () => expect(sessionIn(await inspectOver(server.url), client.sessionId)?.subscriptions).toBe(0));
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

  test("the server drops a connection's watches when it detaches, and the client opens them again", async () => {
    const server = await harness.server();
    const sockets = controllableSockets();
    const client = await harness.client(server, { WebSocket: sockets.WebSocket });
    const writer = await harness.client(server);
    const watch = client.watch("");
    await watch.ready;
    const events: WatchEvent[] = [];
    void drain(watch, events);
    const watching = async () => sessionIn(await inspectOver(server.url), client.sessionId)?.subscriptions;
    expect(await watching()).toBe(1);
    sockets.blocked = true;
    client.dropConnection();
    await vi.waitFor(async () => expect(await watching()).toBe(0));
    const missed = await writer.put("while-away", 1);
    const back = reconnected(client);
    sockets.blocked = false;
    // The network is back: dial now, as an application told so would, rather than after the backoff wait.
    client.wake();
    await back;
    await vi.waitFor(async () => expect(await watching()).toBe(1));
    await vi.waitFor(() => expect(events.map((event) => event.revision)).toEqual([missed.revision]));
    watch.close();
  });
});

describe("list", () => {
  test("returns every key under the prefix in key order, following pages", async () => {
    const server = await harness.server();
    const client = await harness.client(server);
    const keys = Array.from({ length: 2_500 }, (_, index) => `p:${String(index).padStart(5, "0")}`);
    const shuffled = [...keys].sort(() => Math.random() - 0.5);
    await Promise.all(shuffled.map((key) => client.put(key, key.length)));
    await client.put("p", "not under p:");
    await client.put("q:1", "elsewhere");
    const lease = await client.leases.grant(5_000);
    await client.put("p:bound", true, { lease: lease.id });

    const items = await client.list("p:");
    expect(items.map((item) => item.key)).toEqual([...keys, "p:bound"]);
    expect(items.at(-1)).toEqual({ key: "p:bound", value: true, revision: expect.any(Number), lease: lease.id });
    expect((await client.list("p:001")).map((item) => item.key)).toEqual(keys.slice(100, 200));
    expect(await client.list("none:")).toEqual([]);
    expect((await client.list("")).length).toBe(2_503);
  });
});
