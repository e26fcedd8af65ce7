import { LimitExceededError, type LeaseholdClient, type WatchEvent } from "@leasehold/client";
import { describe, expect, test, vi } from "vitest";
import { controllableSockets, drain, harnessFor } from "../shared-state/fixtures/harness.js";
import { inspectOver, sessionIn } from "../support/inspect.js";
import type { Target } from "../support/target.js";

/**
 * The watch and list scenarios that need no server options: test/shared-state/watch.test.ts runs them
 * against one server (beside those that do), test/cluster/e2e-shared-state.test.ts against a cluster.
 * Each test watches and lists prefixes of its own, as a cluster is shared by a file's tests.
 */
export function describeWatch(target: Target): void {
  const harness = harnessFor(target);
  describe(`watch (${target.name})`, () => {
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

    test("the server drops a connection's watches when it detaches, and the client opens them again", async () => {
      const server = await harness.server();
      const sockets = controllableSockets();
      const client = await harness.client(server, { WebSocket: sockets.WebSocket });
      const writer = await harness.client(server);
      const watch = client.watch("away:");
      await watch.ready;
      const events: WatchEvent[] = [];
      void drain(watch, events);
      const watching = async () => sessionIn(await inspectOver(server.url), client.sessionId)?.subscriptions;
      expect(await watching()).toBe(1);
      sockets.blocked = true;
      client.dropConnection();
      await vi.waitFor(async () => expect(await watching()).toBe(0));
      const missed = await writer.put("away:1", 1);
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

  describe(`list (${target.name})`, () => {
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
      // The empty prefix lists every key, in key order (a cluster's other tests have keys of their own).
      const everything = (await client.list("")).map((item) => item.key);
      expect(everything).toEqual([...everything].sort());
      expect(everything.filter((key) => key === "p" || key.startsWith("p:") || key.startsWith("q:"))).toEqual(["p", ...keys, "p:bound", "q:1"]);
    });
  });
}

export function reconnected(client: LeaseholdClient, event: "reconnected" | "expired" = "reconnected"): Promise<void> {
  return new Promise((resolve) => client.addEventListener(event, () => resolve(), { once: true }));
}

/** Writes `count` changes under "job:" (puts and deletes) and a few elsewhere; returns the revisions under "job:". */
export async function writeJobs(writer: LeaseholdClient, count: number, onProgress: (done: number) => Promise<void> | void): Promise<number[]> {
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

export function expectInOrderExactlyOnce(events: WatchEvent[], revisions: number[]) {
  const seen = events.map((event) => event.revision);
  expect(seen).toEqual([...revisions].sort((a, b) => a - b));
  expect(events.every((event) => event.key.startsWith("job:"))).toBe(true);
}
