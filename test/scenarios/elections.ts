import { ErrorCode, LeaseExpiredError, ReleasedError, TimeoutError, type LeaderInfo } from "@leasehold/client";
import { describe, expect, test, vi } from "vitest";
import { aborted, drain, harnessFor } from "../shared-state/fixtures/harness.js";
import { spawnBuiltScript } from "../support/built-script.js";
import { electionIn, inspectOver, sessionIn } from "../support/inspect.js";
import { exited } from "../support/server-process.js";
import type { Target } from "../support/target.js";

/** The election scenarios (names unique per test: a cluster is shared by a file's tests): test/shared-state/elections.test.ts runs them against one server, test/cluster/e2e-shared-state.test.ts against a cluster. */
export function describeElections(target: Target): void {
  const harness = harnessFor(target);
  describe(`elections (${target.name})`, () => {
    test("when the leader's process is killed, the next campaigner leads after about the TTL; observe sees each leader once", async () => {
      const ttl = 1_000;
      const server = await harness.server();
      const [candidate, observer] = await harness.clients(server, 2);
      const leaders: (LeaderInfo | null)[] = [];
      const observation = observer!.elections.observe("app-leader:kill");
      void drain(observation, leaders);
      await observation.ready;

      // A campaigner in its own process (test/shared-state/fixtures/campaigner.ts), to be killed while it leads.
      const child = spawnBuiltScript("../shared-state/fixtures/campaigner.ts", [server.url, "app-leader:kill", String(ttl), "child"]);
      const childLeader = await child.next((line) => line.event === "leader");
      expect(await candidate!.elections.leader("app-leader:kill")).toEqual({ value: "child", token: childLeader.token });

      const lease = await candidate!.leases.grant(5_000);
      let elected = false;
      const campaign = candidate!.elections.campaign("app-leader:kill", lease.id, { value: "parent" }).then((term) => {
        elected = true;
        return term;
      });
      await vi.waitFor(async () => expect(electionIn(await inspectOver(server.url), "app-leader:kill")?.waiters.length).toBe(1));
      expect(elected).toBe(false);

      const killedAt = performance.now();
      child.process.kill("SIGKILL");
      await exited(child);
      const term = await campaign;
      const waited = performance.now() - killedAt;
      // The child's lease lived on for its TTL after the child was last heard (it pings every TTL/3).
      expect(waited).toBeGreaterThan(ttl * 0.5);
      expect(waited).toBeLessThan(ttl * 3);
      expect(term.token).toBeGreaterThan(childLeader.token as number);
      expect(term.leading).toBe(true);

      await vi.waitFor(() => expect(leaders.at(-1)).toEqual({ value: "parent", token: term.token }));
      // The vacancy may or may not be seen between the two (the hand-over is one step); each leader appears once.
      expect(leaders.filter((leader) => leader !== null)).toEqual([
        { value: "child", token: childLeader.token },
        { value: "parent", token: term.token },
      ]);
      expect(leaders[0]).toBeNull();
      observation.close();
    });

    test("resign hands over to the next campaigner in order; observe sees each leader once, also across a reconnect", async () => {
      const server = await harness.server();
      const clients = await harness.clients(server, 4);
      const observer = clients[3]!;
      const leaders: (LeaderInfo | null)[] = [];
      const observation = observer.elections.observe("app-leader:resign");
      void drain(observation, leaders);
      await observation.ready;

      const leases = await Promise.all(clients.slice(0, 3).map((client) => client.leases.grant(5_000)));
      const first = await clients[0]!.elections.campaign("app-leader:resign", leases[0]!.id, { value: "c0" });
      const second = clients[1]!.elections.campaign("app-leader:resign", leases[1]!.id, { value: "c1" });
      await vi.waitFor(async () => expect(electionIn(await inspectOver(server.url), "app-leader:resign")?.waiters.length).toBe(1));
      const third = clients[2]!.elections.campaign("app-leader:resign", leases[2]!.id, { value: "c2" });
      await vi.waitFor(async () => expect(electionIn(await inspectOver(server.url), "app-leader:resign")?.waiters.length).toBe(2));

      await first.resign();
      expect(first.signal.reason).toBeInstanceOf(ReleasedError);
      const secondTerm = await second;
      expect(await observer.elections.leader("app-leader:resign")).toEqual({ value: "c1", token: secondTerm.token });

      // The observer's connection drops; it re-observes and must not repeat c1.
      await vi.waitFor(() => expect(leaders.at(-1)).toEqual({ value: "c1", token: secondTerm.token }));
      const back = new Promise((resolve) => observer.addEventListener("reconnected", resolve, { once: true }));
      observer.dropConnection();
      await back;
      await vi.waitFor(async () => expect(sessionIn(await inspectOver(server.url), observer.sessionId)?.subscriptions).toBe(1));

      await secondTerm.resign();
      const thirdTerm = await third;
      await thirdTerm.resign();
      await vi.waitFor(() => expect(leaders.at(-1)).toBeNull());
      expect(leaders).toEqual([
        null,
        { value: "c0", token: first.token },
        { value: "c1", token: secondTerm.token },
        { value: "c2", token: thirdTerm.token },
        null,
      ]);
      expect(secondTerm.token).toBeGreaterThan(first.token);
      expect(thirdTerm.token).toBeGreaterThan(secondTerm.token);
      observation.close();
    });

    test("a term is lost with its lease (told first), and the next campaigner is pushed the news", async () => {
      const server = await harness.server();
      const [a, b] = await harness.clients(server, 2);
      const leaseA = await a!.leases.grant(300, { keepAlive: false });
      const termA = await a!.elections.campaign("e:lease", leaseA.id, { value: 1 });
      const leaseB = await b!.leases.grant(5_000);
      const termB = await b!.elections.campaign("e:lease", leaseB.id, { value: 2 });
      // A's loss was noticed on A's own clock no later than B's election.
      expect(termA.signal.aborted).toBe(true);
      expect(await aborted(termA.signal)).toBeInstanceOf(LeaseExpiredError);
      expect(termB.token).toBeGreaterThan(termA.token);
      // B revokes its lease: the term ends at once, on the client and on the server.
      await b!.leases.revoke(leaseB.id);
      expect(termB.leading).toBe(false);
      expect(await a!.elections.leader("e:lease")).toBeNull();
    });

    test("a campaign with a finite wait times out, and an aborted one withdraws", async () => {
      const server = await harness.server();
      const [a, b] = await harness.clients(server, 2);
      const leaseA = await a!.leases.grant(5_000);
      const leaseB = await b!.leases.grant(5_000);
      await a!.elections.campaign("e:wait", leaseA.id);
      await expect(b!.elections.campaign("e:wait", leaseB.id, { wait: false })).rejects.toBeInstanceOf(TimeoutError);
      await expect(b!.elections.campaign("e:wait", leaseB.id, { wait: 100 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      const controller = new AbortController();
      const pending = b!.elections.campaign("e:wait", leaseB.id, { signal: controller.signal });
      await vi.waitFor(async () => expect(electionIn(await inspectOver(server.url), "e:wait")?.waiters.length).toBe(1));
      controller.abort(new Error("gave up"));
      await expect(pending).rejects.toThrow("gave up");
      await vi.waitFor(async () => expect(electionIn(await inspectOver(server.url), "e:wait")?.waiters.length).toBe(0));
      expect(await b!.elections.leader("e:wait")).toEqual({ value: null, token: expect.any(Number) });
    });
  });
}
