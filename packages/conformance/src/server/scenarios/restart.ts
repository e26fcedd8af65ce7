import type { WireMap } from "../../wire/codec.js";
import { check, checkEqual, checkError, type Scenario } from "../scenario.js";
import { unique } from "./locks.js";

/** Section 15a: a durable server restarted with `--restart-cmd` keeps sessions, leases, holds, keys and its counter. */
export const restartScenarios: Scenario[] = [
  {
    name: "restart.durable",
    section: "15a Durability and restarts",
    needs: "restart",
    async run(kit) {
      const before = await kit.session();
      const c = before.connection;
      const ttl = kit.ttl(20_000);
      const { lease } = await c.call("lease.grant", { ttl });
      const name = unique("durable");
      const acquireId = c.request("lock.acquire", { name, lease });
      const { token } = (await c.answer(acquireId)).result as WireMap;
      const { revision } = await c.call("kv.put", { key: name, value: "kept" });
      const lastStored = c.nextId() - 1;
      c.close();
      await kit.restart();
      const after = await kit.session({ continueFrom: c, resume: { session: String(before.welcome.session), secret: String(before.welcome.secret) } });
      check(after.welcome.resumed === true, "a durable server should resume a session after a restart");
      const resync = after.welcome.resync as WireMap;
      checkEqual(resync.lastRequest, lastStored, "resync.lastRequest after a restart (the highest stored request id)");
      checkEqual(resync.leases, [{ lease, ttl, keepAlive: true }], "the leases after a restart");
      checkEqual(resync.holds, [{ request: acquireId, name, lease, token }], "the holds after a restart");
      checkEqual(((await after.connection.call("kv.get", { key: name })).entry as WireMap).value, "kept", "a key after a restart");
      const next = await after.connection.call("lock.acquire", { name: `${name}/next`, lease });
      check((next.token as number) > (revision as number), `a token issued after the restart (${String(next.token)}) must be above every revision before it (${String(revision)})`);
      checkError(await after.connection.refused("watch", { prefix: name, fromRevision: revision }), "COMPACTED", "a watch from a revision before the restart");
    },
  },
];
