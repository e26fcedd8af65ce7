import type { Received } from "../../wire/connection.js";
import { check, checkEqual, type Scenario } from "../scenario.js";

/** Section 5: pings, their interval rule, acknowledgement of pongs, and a silent client. */
export const heartbeatScenarios: Scenario[] = [
  {
    name: "heartbeats.interval-and-ack",
    section: "5 Heartbeats",
    async run(kit) {
      const { connection, welcome } = await kit.session();
      const ttl = kit.ttl(600);
      await connection.call("lease.grant", { ttl });
      // With a kept-alive lease of TTL T the interval is floor(T / 4): a client's deadline
      // (heardAt + T - margin) then has T / 2 - margin of slack for a late ping (section 6).
      const interval = leaseInterval(welcome.heartbeat as number, ttl);
      const pings: Received[] = [];
      for (let i = 0; i < 4; i++) pings.push(await connection.next((m) => m.type === "ping", interval * 3, `ping ${i + 1}`));
      for (const [i, ping] of pings.entries()) {
        if (i === 0) continue;
        const previous = pings[i - 1]!;
        checkEqual((ping.message.seq as number) - (previous.message.seq as number), 1, "consecutive pings' seq");
        // Each pong was sent at once on the ping before: a conforming server acknowledges it now.
        checkEqual(ping.message.ack, previous.message.seq, `ping ${String(ping.message.seq)}'s ack (the pong to ping ${String(previous.message.seq)} was sent at once)`);
        const gap = ping.at - previous.at;
        check(gap <= interval + 250, `pings came ${Math.round(gap)} ms apart; with a ${ttl} ms kept-alive lease the interval is ${interval} ms`);
        check(gap >= interval * 0.8, `pings came ${Math.round(gap)} ms apart, faster than the announced interval ${interval} ms`);
      }
    },
  },
  {
    name: "heartbeats.silent-client",
    section: "5 Heartbeats (the server never closes for missing pongs)",
    async run(kit) {
      const { connection, welcome } = await kit.session();
      connection.answerPings = false;
      // A kept-alive lease shortens the interval (floor(T / 4)) so that four pings fit in its TTL.
      const ttl = kit.ttl(1_500);
      await connection.call("lease.grant", { ttl });
      const interval = leaseInterval(welcome.heartbeat as number, ttl);
      const first = await connection.next((m) => m.type === "ping", interval * 3, "the first ping");
      const second = await connection.next((m) => m.type === "ping", interval * 3, "the second ping");
      checkEqual([first.message.ack, second.message.ack], [0, 0], "acks while no pong was sent");
      check(!connection.isClosed, "the server closed a connection for missing pongs");
      // A pong for a ping not yet sent is ignored; a pong for the latest is acknowledged.
      connection.send({ op: "pong", seq: (second.message.seq as number) + 100 });
      connection.send({ op: "pong", seq: second.message.seq });
      const third = await connection.next((m) => m.type === "ping", interval * 3, "the third ping");
      checkEqual(third.message.ack, second.message.seq, "the ack after a pong to the latest ping (a pong above the last ping is ignored)");
    },
  },
  {
    name: "heartbeats.base-interval",
    section: "5 Heartbeats (the base interval)",
    async run(kit) {
      // A fresh welcome (no leases) announces the base interval; once the session's last short lease
      // is gone, pings come back to it, so a client's silence rule built on it holds.
      const { connection, welcome } = await kit.session();
      const base = welcome.heartbeat as number;
      const { lease } = await connection.call("lease.grant", { ttl: kit.ttl(300) });
      await connection.next((m) => m.type === "ping", base + 1_000, "a ping under a short lease");
      await connection.call("lease.revoke", { lease });
      const first = await connection.next((m) => m.type === "ping", base * 2 + 1_000, "the first ping after the lease was revoked");
      const second = await connection.next((m) => m.type === "ping", base * 2 + 1_000, "the second ping after the lease was revoked");
      const gap = second.at - first.at;
      check(gap >= base * 0.8 && gap <= base + 250, `after the last lease ended pings came ${Math.round(gap)} ms apart; the base interval announced by the first welcome is ${base} ms`);
    },
  },
  {
    name: "heartbeats.base-interval-announced",
    section: "2 Handshake (welcome); 5 Heartbeats (the base interval)",
    async run(kit) {
      // A resumed welcome's heartbeat is shortened by the session's leases; baseHeartbeat and
      // sessionGrace tell the client what pings come back to and how long a silent session is kept.
      const first = await kit.session();
      const base = first.welcome.heartbeat as number;
      checkEqual([first.welcome.baseHeartbeat, typeof first.welcome.sessionGrace], [base, "number"], "a new session's welcome: baseHeartbeat (= heartbeat without leases) and sessionGrace");
      const ttl = kit.ttl(300);
      await first.connection.call("lease.grant", { ttl });
      first.connection.close();
      const resumed = await kit.session({ continueFrom: first.connection, resume: { session: String(first.welcome.session), secret: String(first.welcome.secret) } });
      check(resumed.welcome.resumed === true, "the session should resume");
      check((resumed.welcome.heartbeat as number) <= leaseInterval(base, ttl), `a resumed welcome's heartbeat should be shortened by the session's ${ttl} ms lease, got ${String(resumed.welcome.heartbeat)}`);
      checkEqual([resumed.welcome.baseHeartbeat, resumed.welcome.sessionGrace], [base, first.welcome.sessionGrace], "a resumed welcome's baseHeartbeat and sessionGrace");
      check(base <= Math.floor((first.welcome.sessionGrace as number) / 3) || base === 50, `the base interval ${base} ms should be at most a third of the session grace ${String(first.welcome.sessionGrace)} ms`);
    },
  },
];

/** The interval of a session whose shortest kept-alive lease has TTL `ttl` (section 5): a quarter of it, at most `base`, at least 50 ms. */
function leaseInterval(base: number, ttl: number): number {
  return Math.max(50, Math.min(base, Math.floor(ttl / 4)));
}
