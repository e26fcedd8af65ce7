import { check, checkEqual, checkError, type Scenario } from "../scenario.js";

/** How late a server-side expiry may be observed: timer lateness plus delivery on a loaded machine. */
const EXPIRY_SLACK_MS = 400;

/** Sections 4 and 9 (Leases): grant, renew, revoke, ttl, deadlines with and without keep-alive, bye. */
export const leaseScenarios: Scenario[] = [
  {
    name: "leases.grant-renew-ttl-revoke",
    section: "9 Request reference (Leases)",
    async run(kit) {
      const { connection } = await kit.session();
      const ttl = kit.ttl(5_000);
      const granted = await connection.call("lease.grant", { ttl });
      check(Number.isInteger(granted.lease) && (granted.lease as number) > 0, "lease.grant should return a positive integer lease id");
      checkEqual({ ttl: granted.ttl, keepAlive: granted.keepAlive }, { ttl, keepAlive: true }, "lease.grant result");
      const lease = granted.lease as number;
      const other = await connection.call("lease.grant", { ttl, keepAlive: false });
      check(other.lease !== lease && other.keepAlive === false, "a second lease gets its own id and keepAlive: false as asked");
      checkEqual(await connection.call("lease.renew", { lease }), { ttl }, "lease.renew result");
      const lock = `conformance/leases/${lease}`;
      await connection.call("lock.acquire", { name: lock, lease });
      const info = await connection.call("lease.ttl", { lease });
      checkEqual({ ttl: info.ttl, keepAlive: info.keepAlive, locks: info.locks }, { ttl, keepAlive: true, locks: [lock] }, "lease.ttl result");
      check(typeof info.remaining === "number" && info.remaining > ttl - 200 && info.remaining <= ttl, `lease.ttl remaining should be about the full TTL of a kept-alive lease, got ${String(info.remaining)}`);
      checkEqual(await connection.call("lease.revoke", { lease }), {}, "lease.revoke result");
      checkError(await connection.refused("lease.renew", { lease }), "LEASE_NOT_FOUND", "renewing a revoked lease");
      checkError(await connection.refused("lease.ttl", { lease: 2 ** 40 }), "LEASE_NOT_FOUND", "lease.ttl of a lease that never existed");
      const ttlRange = (await connection.refused("lease.grant", { ttl: 1 })) ;
      checkError(ttlRange, "OUT_OF_RANGE", "a ttl below minTtlMs");
    },
  },
  {
    name: "leases.ttl-lists-each-hold",
    section: "9 Request reference (lease.ttl)",
    async run(kit) {
      // One entry per hold: a name held twice under one lease (two semaphore slots) is listed twice.
      const { connection } = await kit.session();
      const { lease } = await connection.call("lease.grant", { ttl: kit.ttl(5_000) });
      const name = `conformance/ttl-holds/${String(lease)}-${Date.now()}`;
      await connection.call("lock.acquire", { name, lease, limit: 3 });
      await connection.call("lock.acquire", { name, lease, limit: 3 });
      checkEqual((await connection.call("lease.ttl", { lease })).locks, [name, name], "lease.ttl locks of a lease holding two slots of one semaphore");
    },
  },
  {
    name: "leases.not-owned",
    section: "9 Request reference (lease errors)",
    async run(kit) {
      const a = await kit.session();
      const b = await kit.session();
      const { lease } = await a.connection.call("lease.grant", { ttl: kit.ttl(5_000) });
      checkError(await b.connection.refused("lease.renew", { lease }), "LEASE_NOT_OWNED", "renewing another session's lease");
      checkError(await b.connection.refused("lock.acquire", { name: "conformance/not-owned", lease }), "LEASE_NOT_OWNED", "acquiring under another session's lease");
    },
  },
  {
    name: "leases.keepalive-expiry",
    section: "4 Sessions, leases and deadlines (kept alive: lastHeard + ttl)",
    async run(kit) {
      // A client that goes silent (no pongs, nothing) loses its kept-alive lease TTL after its last frame, not before.
      const { connection } = await kit.session();
      const ttl = kit.ttl(600);
      const { lease } = await connection.call("lease.grant", { ttl });
      connection.answerPings = false;
      await connection.call("lease.ttl", { lease });
      const lastFrame = connection.lastSentAt;
      const { message, at } = await connection.next((m) => m.type === "lease.ended", ttl + 5_000, "lease.ended");
      checkEqual(message, { type: "lease.ended", lease, reason: "expired" }, "the lease.ended push");
      const after = at - lastFrame;
      check(after >= ttl - 5, `the lease ended ${Math.round(after)} ms after the client's last frame, before its TTL of ${ttl} ms`);
      check(after <= ttl + EXPIRY_SLACK_MS, `the lease ended ${Math.round(after)} ms after the client's last frame, later than its TTL of ${ttl} ms + ${EXPIRY_SLACK_MS} ms`);
    },
  },
  {
    name: "leases.keepalive-kept-by-pongs",
    section: "4 Sessions, leases and deadlines; 5 Heartbeats",
    async run(kit) {
      // Answering pings alone keeps a kept-alive lease: after three TTLs it is still there.
      const { connection } = await kit.session();
      const ttl = kit.ttl(300);
      const { lease } = await connection.call("lease.grant", { ttl });
      await new Promise((resolve) => setTimeout(resolve, ttl * 3));
      check(!connection.received.some((r) => r.message.type === "lease.ended"), "a lease whose session answers every ping ended");
      await connection.call("lease.renew", { lease });
    },
  },
  {
    name: "leases.no-keepalive-expiry",
    section: "4 Sessions, leases and deadlines (not kept alive: renewedAt + ttl)",
    async run(kit) {
      // Traffic does not extend a lease without keep-alive: it ends TTL after its grant or last renew.
      const { connection } = await kit.session();
      const ttl = kit.ttl(600);
      const { lease } = await connection.call("lease.grant", { ttl, keepAlive: false });
      const renewId = connection.request("lease.renew", { lease });
      const renewSent = connection.lastSentAt;
      check((await connection.answer(renewId)).type === "reply", "renewing a fresh lease should succeed");
      const chatter = setInterval(() => connection.send({ op: "kv.get", id: connection.nextId(), key: "conformance/chatter" }), 50);
      kit.defer(() => clearInterval(chatter));
      const { at } = await connection.next((m) => m.type === "lease.ended" && m.lease === lease, ttl + 5_000, "lease.ended");
      clearInterval(chatter);
      const after = at - renewSent;
      check(after >= ttl - 5 && after <= ttl + EXPIRY_SLACK_MS, `a lease without keep-alive should end ${ttl} ms after its last renew despite other traffic; it ended after ${Math.round(after)} ms`);
    },
  },
  {
    name: "leases.bye",
    section: "4 Sessions, leases and deadlines (bye)",
    async run(kit) {
      const holder = await kit.session();
      const waiter = await kit.session();
      const name = `conformance/bye/${String(holder.welcome.session)}`;
      const { lease } = await holder.connection.call("lease.grant", { ttl: kit.ttl(60_000) });
      await holder.connection.call("lock.acquire", { name, lease });
      const { lease: waiterLease } = await waiter.connection.call("lease.grant", { ttl: kit.ttl(60_000) });
      const wait = waiter.connection.request("lock.acquire", { name, lease: waiterLease, wait: true });
      const byeId = holder.connection.request("bye");
      const answer = await holder.connection.answer(byeId);
      checkEqual(answer, { type: "reply", id: byeId, result: {} }, "the reply to bye");
      const closed = await holder.connection.closes();
      check(closed.code === 1000, `bye should close with 1000, closed with ${closed.code}`);
      check(!holder.connection.received.some((r) => r.message.type === "lease.ended"), "bye must not send lease.ended");
      const granted = await waiter.connection.answer(wait, 2_000);
      check(granted.type === "reply" && (granted.result as { acquired?: boolean }).acquired === true, `bye should pass the lock on at once, the waiter got ${JSON.stringify(granted)}`);
    },
  },
];
