import type { WireMap } from "../../wire/codec.js";
import { check, checkEqual, checkError, sleep, type KitContext, type Scenario, type Session } from "../scenario.js";
import { unique } from "./locks.js";

/** Section 7: resuming through the kit's proxy after cuts, partitions, lost replies and lost requests. */
export const resumeScenarios: Scenario[] = [
  {
    name: "resume.cut-keeps-everything",
    section: "7 Resuming a session; 15 (resume within the TTL keeps everything)",
    async run(kit) {
      const { proxy, url } = await kit.proxy();
      const before = await kit.session({ url });
      const c = before.connection;
      const ttl = kit.ttl(5_000);
      const { lease } = await c.call("lease.grant", { ttl });
      const name = unique("resume");
      const acquireId = c.request("lock.acquire", { name, lease });
      const { token } = (await c.answer(acquireId)).result as WireMap;
      proxy.cut();
      proxy.restore();
      const after = await resume(kit, before, url);
      checkEqual(after.welcome.session, before.welcome.session, "the resumed session id");
      checkEqual(after.welcome.resync, { lastRequest: acquireId, leases: [{ lease, ttl, keepAlive: true }], holds: [{ request: acquireId, name, lease, token }], waits: [] }, "resync after a cut");
      await after.connection.call("lease.renew", { lease });
    },
  },
  {
    name: "resume.lost-reply",
    section: "7 Resuming a session (requests the server received but did not answer)",
    async run(kit) {
      const { proxy, url } = await kit.proxy();
      const before = await kit.session({ url });
      const observer = await kit.session();
      const { lease } = await before.connection.call("lease.grant", { ttl: kit.ttl(5_000) });
      const name = unique("lost-reply");
      proxy.dropReplies();
      const id = before.connection.request("lock.acquire", { name, lease });
      // The reply is lost; another session sees the lock taken, so the request arrived.
      await until(async () => ((await observer.connection.call("lock.query", { prefix: name })).held as WireMap[]).length > 0, "the lost-reply request to reach the server");
      proxy.cut();
      proxy.restore();
      const after = await resume(kit, before, url);
      const resync = after.welcome.resync as { lastRequest: number; holds: WireMap[] };
      checkEqual(resync.lastRequest, id, "resync.lastRequest after a request whose reply was lost");
      check(resync.holds.some((hold) => hold.request === id && hold.name === name), `resync.holds should list the grant of request ${id}: ${JSON.stringify(resync.holds)}`);
    },
  },
  {
    name: "resume.lost-request",
    section: "7 Resuming a session (requests the server never received)",
    async run(kit) {
      const { proxy, url } = await kit.proxy();
      const before = await kit.session({ url });
      await before.connection.call("kv.get", { key: "conformance/lost-request" });
      const lastArrived = before.connection.nextId() - 1;
      const key = unique("lost-request");
      proxy.blackhole();
      const id = before.connection.nextId();
      const frame = { op: "kv.put", id, key, value: "re-sent" };
      before.connection.send(frame);
      await sleep(50);
      proxy.cut();
      proxy.restore();
      const after = await resume(kit, before, url);
      checkEqual((after.welcome.resync as WireMap).lastRequest, lastArrived, "resync.lastRequest after a request lost on the way");
      after.connection.send(frame);
      check((await after.connection.answer(id)).type === "reply", "a request re-sent with its own id after a resume should be served");
      checkEqual(((await after.connection.call("kv.get", { key })).entry as WireMap | null)?.value, "re-sent", "the value written by the re-sent request");
    },
  },
  {
    name: "resume.wait-granted-while-away",
    section: "7 Resuming a session (holds)",
    async run(kit) {
      const { proxy, url } = await kit.proxy();
      const holder = await kit.session();
      const before = await kit.session({ url });
      const name = unique("granted-away");
      const { lease: holderLease } = await holder.connection.call("lease.grant", { ttl: kit.ttl(10_000) });
      const { token } = await holder.connection.call("lock.acquire", { name, lease: holderLease });
      const { lease } = await before.connection.call("lease.grant", { ttl: kit.ttl(10_000) });
      const wait = before.connection.request("lock.acquire", { name, lease, wait: true });
      await before.connection.call("kv.get", { key: "conformance/sync" });
      proxy.cut();
      proxy.restore();
      await holder.connection.call("lock.release", { name, token });
      const after = await resume(kit, before, url);
      const resync = after.welcome.resync as { holds: WireMap[]; waits: WireMap[] };
      const hold = resync.holds.find((h) => h.request === wait);
      check(hold !== undefined && hold.name === name && (hold.token as number) > (token as number), `resync.holds should list the wait granted while away (request ${wait}): ${JSON.stringify(resync.holds)}`);
    },
  },
  {
    name: "resume.wait-still-queued",
    section: "7 Resuming a session (waits)",
    async run(kit) {
      const { proxy, url } = await kit.proxy();
      const holder = await kit.session();
      const before = await kit.session({ url });
      const name = unique("queued-away");
      const { lease: holderLease } = await holder.connection.call("lease.grant", { ttl: kit.ttl(10_000) });
      const { token } = await holder.connection.call("lock.acquire", { name, lease: holderLease });
      const { lease } = await before.connection.call("lease.grant", { ttl: kit.ttl(10_000) });
      const wait = before.connection.request("lock.acquire", { name, lease, wait: true });
      await before.connection.call("kv.get", { key: "conformance/sync" });
      proxy.cut();
      proxy.restore();
      const after = await resume(kit, before, url);
      checkEqual((after.welcome.resync as WireMap).waits, [{ request: wait, name, lease }], "resync.waits for a wait still queued");
      await holder.connection.call("lock.release", { name, token });
      const granted = await after.connection.answer(wait);
      check((granted.result as WireMap | undefined)?.acquired === true, `the queued wait should be answered on the new connection, got ${JSON.stringify(granted)}`);
    },
  },
  {
    name: "resume.cut-longer-than-ttl",
    section: "7 Resuming a session; 4 (leases end at their deadline while away)",
    async run(kit) {
      const { proxy, url } = await kit.proxy();
      const before = await kit.session({ url });
      const ttl = kit.ttl(400);
      const { lease } = await before.connection.call("lease.grant", { ttl });
      await before.connection.call("lock.acquire", { name: unique("long-cut"), lease });
      proxy.cut();
      await sleep(ttl + 300);
      proxy.restore();
      const after = await resume(kit, before, url, false);
      if (after.welcome.resumed === true) {
        const resync = after.welcome.resync as WireMap;
        checkEqual([resync.leases, resync.holds], [[], []], "resync after a cut longer than the TTL (leases and holds)");
      } else {
        check(after.welcome.session !== before.welcome.session, "a failed resume must give a new session");
      }
    },
  },
  {
    name: "resume.delayed-network",
    section: "4 Sessions (lastHeard is the arrival time); 5 Heartbeats",
    async run(kit) {
      const { proxy, url } = await kit.proxy();
      proxy.delay(100);
      const { connection } = await kit.session({ url });
      const ttl = kit.ttl(600);
      const { lease } = await connection.call("lease.grant", { ttl });
      await sleep(ttl * 3);
      check(!connection.received.some((r) => r.message.type === "lease.ended"), "a kept-alive lease ended although every ping was answered (100 ms late each way)");
      await connection.call("lease.renew", { lease });
    },
  },
  {
    name: "resume.taken-over",
    section: "2 Handshake (4007); 13 Close codes",
    async run(kit) {
      const first = await kit.session();
      const second = await resume(kit, first, kit.url);
      check(second.welcome.resumed === true, "resuming a session attached to another connection should succeed");
      const closed = await first.connection.closes();
      check(closed.code === 4007, `the connection that lost its session should close with 4007, closed with ${closed.code}`);
    },
  },
  {
    name: "resume.after-4000",
    section: "7 Resuming a session (a request that closed the connection)",
    async run(kit) {
      const before = await kit.session();
      await before.connection.call("kv.get", { key: "conformance/before-4000" });
      const lastGood = before.connection.nextId() - 1;
      const badId = before.connection.nextId();
      // An extension type makes the frame unreadable, its id included: the error has no id and 4000 follows.
      before.connection.sendBytes(Uint8Array.of(0x83, 0xa2, 0x6f, 0x70, 0xa6, 0x6b, 0x76, 0x2e, 0x67, 0x65, 0x74, 0xa2, 0x69, 0x64, badId, 0xa3, 0x6b, 0x65, 0x79, 0xd4, 0x01, 0x00));
      const closed = await before.connection.closes();
      check(closed.code === 4000, `an extension type should close with 4000, closed with ${closed.code}`);
      const after = await resume(kit, before, kit.url);
      checkEqual((after.welcome.resync as WireMap).lastRequest, lastGood, "resync.lastRequest after a frame refused with 4000 whose id could not be read");
      // The client fails that request; its next request takes a new, larger id.
      await after.connection.call("kv.get", { key: "conformance/after-4000" });
    },
  },
  {
    name: "resume.stale-id-after-resume",
    section: "3 Requests (ids grow across reconnects)",
    async run(kit) {
      const before = await kit.session();
      const id = before.connection.request("kv.get", { key: "conformance/stale" });
      await before.connection.answer(id);
      before.connection.close();
      const after = await resume(kit, before, kit.url);
      after.connection.send({ op: "kv.get", id, key: "conformance/stale" });
      checkError(await after.connection.answer(id), "BAD_REQUEST", "an id already used before the resume");
    },
  },
];

/** Reconnects to `url` and resumes `before`'s session, carrying its request ids on. */
async function resume(kit: KitContext, before: Session, url: string, mustResume = true): Promise<Session> {
  const after = await kit.session({ url, continueFrom: before.connection, resume: { session: String(before.welcome.session), secret: String(before.welcome.secret) } });
  if (mustResume) check(after.welcome.resumed === true, `the resume should find the session, got resumed: ${String(after.welcome.resumed)}`);
  return after;
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
