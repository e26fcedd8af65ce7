import type { WireMap } from "../../wire/codec.js";
import { check, checkEqual, checkError, type Scenario } from "../scenario.js";
import { unique } from "./locks.js";

/** Section 11: keys, compare-and-set, fenced writes, lease-bound keys, watches, counters, elections. */
export const sharedStateScenarios: Scenario[] = [
  {
    name: "kv.put-get-list-delete",
    section: "11 Shared state (keys)",
    async run(kit) {
      const { connection } = await kit.session();
      const prefix = `${unique("kv")}/`;
      const value = { text: "é😀", bytes: Uint8Array.of(0, 1, 255), list: [1, -1, 2 ** 40, 0.5, true, null] };
      const { revision } = await connection.call("kv.put", { key: `${prefix}a`, value });
      check(Number.isInteger(revision), "kv.put should return an integer revision");
      checkEqual((await connection.call("kv.get", { key: `${prefix}a` })).entry, { value, revision }, "kv.get of a value just written");
      await connection.call("kv.put", { key: `${prefix}b`, value: 2 });
      await connection.call("kv.put", { key: `${prefix}c`, value: 3 });
      const page = await connection.call("kv.list", { prefix, limit: 2 });
      checkEqual((page.items as WireMap[]).map((item) => item.key), [`${prefix}a`, `${prefix}b`], "the first page of kv.list");
      check(typeof page.next === "string", "kv.list should give next when keys follow");
      const rest = await connection.call("kv.list", { prefix, after: page.next, limit: 2 });
      checkEqual((rest.items as WireMap[]).map((item) => item.key), [`${prefix}c`], "the second page of kv.list");
      check(!("next" in rest), "the last page has no next");
      const deleted = await connection.call("kv.delete", { key: `${prefix}a` });
      check(deleted.deleted === true && (deleted.revision as number) > (revision as number), "kv.delete of an existing key: deleted with a new revision");
      checkEqual((await connection.call("kv.get", { key: `${prefix}a` })).entry, null, "kv.get of a deleted key");
      checkEqual((await connection.call("kv.delete", { key: `${prefix}a` })).deleted, false, "kv.delete of a missing key");
    },
  },
  {
    name: "kv.compare-and-set",
    section: "11 Shared state (compare-and-set)",
    async run(kit) {
      const { connection } = await kit.session();
      const key = unique("cas");
      const { revision } = await connection.call("kv.put", { key, value: 1, ifRevision: 0 });
      checkError(await connection.refused("kv.put", { key, value: 2, ifRevision: 0 }), "REVISION_MISMATCH", "ifRevision 0 on an existing key");
      checkError(await connection.refused("kv.put", { key, value: 2, ifRevision: (revision as number) + 1000 }), "REVISION_MISMATCH", "a wrong ifRevision");
      await connection.call("kv.put", { key, value: 2, ifRevision: revision });
      checkEqual(((await connection.call("kv.get", { key })).entry as WireMap).value, 2, "the value after a successful compare-and-set");
    },
  },
  {
    name: "kv.fenced-writes",
    section: "11 Shared state (fenced writes)",
    async run(kit) {
      const { connection } = await kit.session();
      const { lease } = await connection.call("lease.grant", { ttl: kit.ttl(10_000) });
      const lock = unique("fence");
      const { token } = await connection.call("lock.acquire", { name: lock, lease });
      const key = `${lock}/data`;
      await connection.call("kv.put", { key, value: "fenced", fence: { lock, token } });
      checkError(await connection.refused("kv.put", { key, value: "stale", fence: { lock, token: (token as number) - 1 } }), "FENCE_FAILED", "a fence with an older token");
      await connection.call("lock.release", { name: lock, token });
      checkError(await connection.refused("kv.delete", { key, fence: { lock, token } }), "FENCE_FAILED", "a fence after the lock was released");
      checkEqual(((await connection.call("kv.get", { key })).entry as WireMap).value, "fenced", "the value after refused fenced writes");
    },
  },
  {
    name: "kv.lease-bound-keys-and-watch",
    section: "11 Shared state (keys bound to a lease; watches)",
    async run(kit) {
      const owner = await kit.session();
      const watcher = await kit.session();
      const prefix = `${unique("bound")}/`;
      const watch = await watcher.connection.call("watch", { prefix });
      const watchId = watch.watch as number;
      const { lease } = await owner.connection.call("lease.grant", { ttl: kit.ttl(10_000) });
      const put = await owner.connection.call("kv.put", { key: `${prefix}k`, value: "v", lease });
      checkEqual(((await owner.connection.call("kv.get", { key: `${prefix}k` })).entry as WireMap).lease, lease, "the lease of a bound key");
      await owner.connection.call("lease.revoke", { lease });
      checkEqual((await owner.connection.call("kv.get", { key: `${prefix}k` })).entry, null, "a key bound to a revoked lease");
      const events: WireMap[] = [];
      while (events.length < 2) {
        const { message } = await watcher.connection.next((m) => m.type === "watch.events" && m.watch === watchId, 3_000, "watch.events");
        events.push(...(message.events as WireMap[]));
      }
      checkEqual(events[0], { type: "put", key: `${prefix}k`, value: "v", revision: put.revision }, "the put event");
      check(events[1]?.type === "delete" && events[1].key === `${prefix}k` && (events[1].revision as number) > (put.revision as number), `a delete event when the lease ended, got ${JSON.stringify(events[1])}`);
    },
  },
  {
    name: "watch.from-revision",
    section: "11 Shared state (watches: fromRevision)",
    async run(kit) {
      const { connection } = await kit.session();
      const prefix = `${unique("replay")}/`;
      const first = await connection.call("kv.put", { key: `${prefix}1`, value: 1 });
      await connection.call("kv.put", { key: `${prefix}2`, value: 2 });
      const watch = await connection.call("watch", { prefix, fromRevision: first.revision });
      const events: WireMap[] = [];
      while (events.length < 2) {
        const { message } = await connection.next((m) => m.type === "watch.events" && m.watch === watch.watch, 3_000, "replayed watch.events");
        events.push(...(message.events as WireMap[]));
      }
      checkEqual(events.map((e) => e.key), [`${prefix}1`, `${prefix}2`], "the replayed events, in revision order");
      const ahead = await connection.refused("watch", { prefix, fromRevision: (watch.revision as number) + 1000 });
      checkError(ahead, "OUT_OF_RANGE", "a fromRevision ahead of the server");
      checkEqual(await connection.call("unwatch", { watch: watch.watch }), {}, "unwatch");
    },
  },
  {
    name: "counters",
    section: "11 Shared state (counters)",
    async run(kit) {
      const { connection } = await kit.session();
      const name = unique("counter");
      checkEqual(await connection.call("counter.get", { name }), { value: 0 }, "a counter never set");
      checkEqual((await connection.call("counter.add", { name, delta: 5 })).value, 5, "counter.add");
      await connection.call("counter.set", { name, value: 10 });
      checkEqual(await connection.call("counter.cas", { name, expect: 9, value: 1 }), { ok: false, value: 10 }, "counter.cas with a wrong expect");
      checkEqual(await connection.call("counter.cas", { name, expect: 10, value: 2 ** 53 - 1 }), { ok: true, value: 2 ** 53 - 1 }, "counter.cas");
      checkError(await connection.refused("counter.add", { name, delta: 1 }), "COUNTER_OVERFLOW", "adding past the safe range");
      await connection.call("counter.set", { name, value: 0 });
    },
  },
  {
    name: "elections",
    section: "11 Shared state (elections)",
    async run(kit) {
      const [a, b, observer] = [await kit.session(), await kit.session(), await kit.session()];
      const name = unique("election");
      const { lease: leaseA } = await a.connection.call("lease.grant", { ttl: kit.ttl(10_000) });
      const { lease: leaseB } = await b.connection.call("lease.grant", { ttl: kit.ttl(10_000) });
      const observeId = observer.connection.request("election.observe", { name });
      const observe = (await observer.connection.answer(observeId)).result as WireMap;
      checkEqual(observe, { observe: observeId, leader: null }, "election.observe (the observer's id is its request's id; nobody campaigned yet)");
      const elected = await a.connection.call("election.campaign", { name, lease: leaseA, value: "a" });
      check(elected.elected === true, "the first candidate is elected");
      const waiting = b.connection.request("election.campaign", { name, lease: leaseB, value: "b", wait: true });
      checkEqual(await b.connection.call("election.leader", { name }), { leader: { value: "a", token: elected.token } }, "election.leader");
      const first = await observer.connection.next((m) => m.type === "election.changed", 3_000, "election.changed");
      checkEqual(first.message, { type: "election.changed", observe: observe.observe, leader: { value: "a", token: elected.token } }, "the first election.changed");
      checkEqual(await a.connection.call("election.resign", { name, token: elected.token }), { resigned: true }, "election.resign");
      const next = (await b.connection.answer(waiting)).result as WireMap;
      check(next.elected === true && (next.token as number) > (elected.token as number), "the next candidate is elected with a larger token");
      const second = await observer.connection.next((m) => m.type === "election.changed", 3_000, "election.changed after the hand-over");
      checkEqual(second.message.leader, { value: "b", token: next.token }, "the leader after the hand-over");
    },
  },
];
