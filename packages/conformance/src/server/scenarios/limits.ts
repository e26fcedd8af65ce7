import type { WireMap } from "../../wire/codec.js";
import { SMALL_LIMITS } from "../profile.js";
import { check, checkEqual, checkError, type KitContext, type Scenario, type Session } from "../scenario.js";
import { unique } from "./locks.js";

/** Sections 14 and 17: limits and quotas, only against a server started with the small-limits profile. */
export const limitScenarios: Scenario[] = [
  {
    name: "limits.sessions-per-principal",
    section: "2 Handshake (4005); 14 Limits (maxSessionsPerPrincipal)",
    needs: "small-limits",
    async run(kit) {
      const limit = await announced(kit, "maxSessionsPerPrincipal");
      for (let i = 0; i <= limit; i++) {
        const connection = await kit.raw();
        connection.send({ op: "hello", version: 1 });
        const { message } = await connection.next((m) => m.type === "welcome" || m.type === "error", 5_000, "the answer to hello");
        if (message.type === "error") {
          checkError(message, "LIMIT_EXCEEDED", "a session past maxSessionsPerPrincipal");
          const closed = await connection.closes();
          check(closed.code === 4005, `a session past maxSessionsPerPrincipal should close with 4005, closed with ${closed.code}`);
          return;
        }
        kit.defer(async () => {
          connection.send({ op: "bye", id: 1 });
          await connection.closes();
        });
      }
      throw new Error(`${limit + 1} sessions were opened with maxSessionsPerPrincipal ${limit}`);
    },
  },
  {
    name: "limits.leases-per-principal",
    section: "14 Limits (maxLeasesPerPrincipal)",
    needs: "small-limits",
    async run(kit) {
      const limit = await announced(kit, "maxLeasesPerPrincipal");
      const { connection } = await kit.session();
      for (let i = 0; i <= limit; i++) {
        const answer = await connection.answer(connection.request("lease.grant", { ttl: kit.ttl(10_000) }));
        if (answer.type === "error") return checkError(answer, "LIMIT_EXCEEDED", "a lease past maxLeasesPerPrincipal");
      }
      throw new Error(`${limit + 1} leases were granted with maxLeasesPerPrincipal ${limit}`);
    },
  },
  {
    name: "limits.keys-per-principal",
    section: "14 Limits (maxKeysPerPrincipal)",
    needs: "small-limits",
    async run(kit) {
      const limit = await announced(kit, "maxKeysPerPrincipal");
      const { connection } = await kit.session();
      const prefix = `${unique("keys")}/`;
      kit.defer(() => deleteAll(connection, prefix, limit));
      for (let i = 0; i <= limit; i++) {
        const answer = await connection.answer(connection.request("kv.put", { key: `${prefix}${i}`, value: i }));
        if (answer.type === "error") {
          checkError(answer, "LIMIT_EXCEEDED", "a key past maxKeysPerPrincipal");
          await connection.call("kv.put", { key: `${prefix}0`, value: "overwrite" });
          return;
        }
      }
      throw new Error(`${limit + 1} keys were written with maxKeysPerPrincipal ${limit}`);
    },
  },
  {
    name: "limits.counters-per-principal",
    section: "14 Limits (maxCountersPerPrincipal)",
    needs: "small-limits",
    async run(kit) {
      const limit = await announced(kit, "maxCountersPerPrincipal");
      const { connection } = await kit.session();
      const prefix = `${unique("counters")}/`;
      const made: string[] = [];
      kit.defer(async () => {
        for (const name of made) await connection.call("counter.set", { name, value: 0 });
      });
      for (let i = 0; i <= limit; i++) {
        const answer = await connection.answer(connection.request("counter.add", { name: `${prefix}${i}`, delta: 1 }));
        if (answer.type === "error") return checkError(answer, "LIMIT_EXCEEDED", "a counter past maxCountersPerPrincipal");
        made.push(`${prefix}${i}`);
      }
      throw new Error(`${limit + 1} counters were made non-zero with maxCountersPerPrincipal ${limit}`);
    },
  },
  {
    name: "limits.bytes-per-principal",
    section: "14 Limits (maxBytesPerPrincipal); 12 (QUOTA_EXCEEDED)",
    needs: "small-limits",
    async run(kit) {
      const limit = await announced(kit, "maxBytesPerPrincipal");
      const { connection, welcome } = await kit.session();
      const chunk = Math.floor(Math.min((welcome.limits as { maxFrameBytes: number }).maxFrameBytes, limit) / 2);
      const prefix = `${unique("bytes")}/`;
      kit.defer(() => deleteAll(connection, prefix, 1_000));
      for (let i = 0; i * chunk <= limit; i++) {
        const answer = await connection.answer(connection.request("kv.put", { key: `${prefix}${i}`, value: "x".repeat(chunk) }));
        if (answer.type === "error") {
          checkError(answer, "QUOTA_EXCEEDED", "a write past maxBytesPerPrincipal");
          checkEqual((await connection.call("kv.get", { key: `${prefix}${i}` })).entry, null, "a write refused for its quota");
          return;
        }
      }
      throw new Error(`more than maxBytesPerPrincipal (${limit}) bytes were stored`);
    },
  },
  {
    name: "limits.request-rate",
    section: "17.3 Request rate (RATE_LIMITED, 4008)",
    needs: "small-limits",
    async run(kit) {
      const burst = await announced(kit, "requestBurst");
      const { connection } = await kit.session();
      for (let i = 0; i < burst * 3 + 50 && !connection.isClosed; i++) connection.send({ op: "kv.get", id: connection.nextId(), key: "conformance/rate" });
      const { message } = await connection.next((m) => m.type === "error" && m.code === "RATE_LIMITED", 10_000, "RATE_LIMITED");
      check(typeof message.id === "number", "a RATE_LIMITED answer to a readable request carries its id");
      const closed = await connection.closes(10_000);
      check(closed.code === 4008, `a session far past its rate should close with 4008, closed with ${closed.code}`);
    },
  },
];

/** The limit from `welcome.limits`, refusing to run against a server whose limit is not small. */
async function announced(kit: KitContext, key: keyof typeof SMALL_LIMITS): Promise<number> {
  const probe: Session = await kit.session();
  const value = (probe.welcome.limits as WireMap)[key];
  await probe.bye();
  check(typeof value === "number", `welcome.limits.${key} is missing: start the server with the small-limits profile`);
  check(value <= SMALL_LIMITS[key] * 4, `welcome.limits.${key} is ${value}, not the small-limits profile's ${SMALL_LIMITS[key]}: start the server with its flags`);
  return value;
}

async function deleteAll(connection: Session["connection"], prefix: string, most: number): Promise<void> {
  const { items } = await connection.call("kv.list", { prefix, limit: Math.min(1_000, Math.max(1, most + 1)) });
  for (const item of items as WireMap[]) await connection.call("kv.delete", { key: item.key });
}
