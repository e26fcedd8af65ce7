import type { RawConnection } from "../../wire/connection.js";
import type { WireMap } from "../../wire/codec.js";
import { check, checkEqual, checkError, type KitContext, type Scenario } from "../scenario.js";

/** Section 8 and 9 (Locks): try, wait, FIFO, bounded waits, cancel, shared, semaphores, tokens, pushes. */
export const lockScenarios: Scenario[] = [
  {
    name: "locks.try",
    section: "8 Locks (queueing)",
    async run(kit) {
      const [a, b] = (await holders(kit, 2)) as [Holder, Holder];
      const name = unique("try");
      const first = await a.connection.call("lock.acquire", { name, lease: a.lease });
      check(first.acquired === true && Number.isInteger(first.token), `a free lock should be granted with a token, got ${JSON.stringify(first)}`);
      checkEqual(await b.connection.call("lock.acquire", { name, lease: b.lease }), { acquired: false }, "a try on a held lock");
      checkEqual(await b.connection.call("lock.release", { name, token: first.token }), { released: false }, "another session's release of a lock it does not hold");
      checkEqual(await a.connection.call("lock.release", { name, token: first.token }), { released: true }, "the holder's release");
      checkEqual(await a.connection.call("lock.release", { name, token: first.token }), { released: false }, "a second release");
    },
  },
  {
    name: "locks.fifo",
    section: "8 Locks (queueing: one FIFO queue)",
    async run(kit) {
      const [holder, ...waiters] = await holders(kit, 4);
      const name = unique("fifo");
      const held = await holder!.connection.call("lock.acquire", { name, lease: holder!.lease });
      const ids = waiters.map((w) => w.connection.request("lock.acquire", { name, lease: w.lease, wait: true }));
      await holder!.connection.call("lock.release", { name, token: held.token });
      let previous = held.token as number;
      for (const [index, waiter] of waiters.entries()) {
        const answer = await waiter.connection.answer(ids[index]!);
        const result = answer.result as { acquired?: boolean; token?: number };
        check(result.acquired === true, `waiter ${index + 1} should be granted in turn, got ${JSON.stringify(answer)}`);
        check(result.token! > previous, `tokens must grow: waiter ${index + 1} got ${result.token} after ${previous}`);
        for (const [offset, later] of waiters.slice(index + 1).entries()) {
          const laterId = ids[index + 1 + offset];
          check(!later.connection.received.some((r) => r.message.id === laterId), `a waiter behind waiter ${index + 1} was answered before it released`);
        }
        previous = result.token!;
        await waiter.connection.call("lock.release", { name, token: previous });
      }
    },
  },
  {
    name: "locks.try-does-not-jump-queue",
    section: "8 Locks (a try never jumps the queue)",
    async run(kit) {
      const [a, b, c] = await holders(kit, 3);
      const name = unique("no-jump");
      await a!.connection.call("lock.acquire", { name, lease: a!.lease, mode: "shared" });
      b!.connection.request("lock.acquire", { name, lease: b!.lease, wait: true });
      await b!.connection.call("kv.get", { key: "conformance/sync" });
      checkEqual(await c!.connection.call("lock.acquire", { name, lease: c!.lease, mode: "shared" }), { acquired: false }, "a shared try behind a queued exclusive waiter");
    },
  },
  {
    name: "locks.bounded-wait",
    section: "8 Locks (waits)",
    async run(kit) {
      const [a, b] = await holders(kit, 2);
      const name = unique("bounded");
      await a!.connection.call("lock.acquire", { name, lease: a!.lease });
      const id = b!.connection.request("lock.acquire", { name, lease: b!.lease, wait: 300 });
      const sent = b!.connection.lastSentAt;
      const { message, at } = await b!.connection.next((m) => m.id === id, 3_000, "the answer to a bounded wait");
      checkEqual(message.result, { acquired: false }, "a bounded wait that runs out");
      check(at - sent >= 295 && at - sent < 1_500, `a 300 ms wait was answered after ${Math.round(at - sent)} ms`);
      checkError(await b!.connection.refused("lock.acquire", { name, lease: b!.lease, wait: false }), "BAD_REQUEST", "wait: false");
    },
  },
  {
    name: "locks.cancel",
    section: "8 Locks (cancel)",
    async run(kit) {
      const [a, b] = await holders(kit, 2);
      const name = unique("cancel");
      await a!.connection.call("lock.acquire", { name, lease: a!.lease });
      const target = b!.connection.request("lock.acquire", { name, lease: b!.lease, wait: true });
      const cancel = b!.connection.request("cancel", { target });
      const first = await b!.connection.next((m) => m.id === target || m.id === cancel);
      checkError(first.message, "CANCELLED", "the cancelled wait (answered before the cancel)");
      check(first.message.id === target, "the cancelled wait must be answered before the cancel");
      checkEqual((await b!.connection.answer(cancel)).result, { cancelled: true }, "the cancel's reply");
      checkEqual(await b!.connection.call("cancel", { target }), { cancelled: false }, "cancelling a request no longer queued");
    },
  },
  {
    name: "locks.shared",
    section: "8 Locks (modes)",
    async run(kit) {
      const [a, b, c] = await holders(kit, 3);
      const name = unique("shared");
      const ra = await a!.connection.call("lock.acquire", { name, lease: a!.lease, mode: "shared" });
      const rb = await b!.connection.call("lock.acquire", { name, lease: b!.lease, mode: "shared" });
      check(ra.acquired === true && rb.acquired === true && (rb.token as number) > (ra.token as number), "two shared holders at once, each with a larger token");
      checkEqual(await c!.connection.call("lock.acquire", { name, lease: c!.lease }), { acquired: false }, "an exclusive try on a shared lock");
      checkError(await c!.connection.refused("lock.acquire", { name, lease: c!.lease, limit: 2 }), "MODE_MISMATCH", "a semaphore on a lock's name");
    },
  },
  {
    name: "locks.semaphore",
    section: "8 Locks (modes: semaphore)",
    async run(kit) {
      const [a, b, c] = await holders(kit, 3);
      const name = unique("semaphore");
      const first = await a!.connection.call("lock.acquire", { name, lease: a!.lease, limit: 2 });
      const second = await b!.connection.call("lock.acquire", { name, lease: b!.lease, limit: 2 });
      check(first.acquired === true && second.acquired === true && first.token !== second.token, "a semaphore of 2 grants two slots, each with its own token");
      checkEqual(await c!.connection.call("lock.acquire", { name, lease: c!.lease, limit: 2 }), { acquired: false }, "a third slot of a semaphore of 2");
      checkError(await c!.connection.refused("lock.acquire", { name, lease: c!.lease, limit: 3 }), "LIMIT_MISMATCH", "another limit");
      checkError(await c!.connection.refused("lock.acquire", { name, lease: c!.lease }), "MODE_MISMATCH", "a lock on a semaphore's name");
      checkError(await c!.connection.refused("lock.acquire", { name, lease: c!.lease, limit: 2, mode: "shared" }), "MODE_MISMATCH", "a shared semaphore");
    },
  },
  {
    name: "locks.tokens-grow",
    section: "8 Locks (fencing tokens); 11 Shared state (one revision counter)",
    async run(kit) {
      const [a] = await holders(kit, 1);
      let previous = 0;
      for (let i = 0; i < 5; i++) {
        const name = unique(`tokens-${i}`);
        const { token } = await a!.connection.call("lock.acquire", { name, lease: a!.lease });
        check((token as number) > previous, `token ${String(token)} is not above the previous ${previous}`);
        const { revision } = await a!.connection.call("kv.put", { key: name, value: i });
        check((revision as number) > (token as number), `revision ${String(revision)} is not above the token ${String(token)} issued before it`);
        previous = revision as number;
        await a!.connection.call("lock.release", { name, token });
      }
    },
  },
  {
    name: "locks.lease-ended-before-next-grant",
    section: "15 Timing guarantees (loss is told first); 10 Pushes",
    async run(kit) {
      const holder = await kit.session();
      const [waiter] = await holders(kit, 1);
      const name = unique("told-first");
      const ttl = kit.ttl(500);
      const { lease } = await holder.connection.call("lease.grant", { ttl });
      await holder.connection.call("lock.acquire", { name, lease });
      const wait = waiter!.connection.request("lock.acquire", { name, lease: waiter!.lease, wait: true });
      holder.connection.answerPings = false;
      const ended = await holder.connection.next((m) => m.type === "lease.ended", ttl + 5_000, "lease.ended");
      const granted = await waiter!.connection.next((m) => m.id === wait, 5_000, "the waiter's grant");
      check((granted.message.result as { acquired?: boolean }).acquired === true, "the waiter should be granted once the holder's lease ended");
      check(ended.at <= granted.at, `the waiter was granted ${Math.round(ended.at - granted.at)} ms before the holder was told its lease ended`);
    },
  },
  {
    name: "locks.lost-before-next-grant",
    section: "9 Administration (admin.release); 10 Pushes (lock.lost)",
    async run(kit) {
      const [holder, waiter, admin] = await holders(kit, 3);
      const name = unique("lost-first");
      const { token } = await holder!.connection.call("lock.acquire", { name, lease: holder!.lease });
      const wait = waiter!.connection.request("lock.acquire", { name, lease: waiter!.lease, wait: true });
      await waiter!.connection.call("kv.get", { key: "conformance/sync" });
      const released = await admin!.connection.call("admin.release", { name });
      checkEqual(released, { released: true }, "admin.release of a held lock");
      const lost = await holder!.connection.next((m) => m.type === "lock.lost", 5_000, "lock.lost");
      checkEqual(lost.message, { type: "lock.lost", name, token, reason: "revoked" }, "the lock.lost push");
      const granted = await waiter!.connection.next((m) => m.id === wait, 5_000, "the waiter's grant");
      check(lost.at <= granted.at, "the next holder was granted before the holder received lock.lost");
    },
  },
];

interface Holder {
  readonly connection: RawConnection;
  readonly lease: number;
  readonly welcome: WireMap;
}

/** `count` sessions, each with a kept-alive lease of 30 s. */
async function holders(kit: KitContext, count: number): Promise<Holder[]> {
  const result: Holder[] = [];
  for (let i = 0; i < count; i++) {
    const { connection, welcome } = await kit.session();
    const { lease } = await connection.call("lease.grant", { ttl: kit.ttl(30_000) });
    result.push({ connection, welcome, lease: lease as number });
  }
  return result;
}

/** A lock name no other run of the kit uses. */
export function unique(what: string): string {
  return `conformance/${what}/${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
