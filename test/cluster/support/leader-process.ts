import { EtcdClient } from "../../../packages/server/src/cluster/etcd-client.js";
import { Leadership } from "../../../packages/server/src/cluster/leadership.js";

/**
 * A candidate in its own process, so that a test can SIGSTOP it: `leader-process.ts <endpoints> <prefix>`.
 * Prints `{"leader":epoch}` once it leads, then every 20 ms `{"check":"ok"}` or, once check() throws,
 * `{"check":"lost"}` and exits. A gateway calls check() the same way before each frame.
 */
const [endpoints = "", prefix = "/election/"] = process.argv.slice(2);
const client = new EtcdClient(endpoints.split(","));
const leadership = new Leadership({ client, prefix, ttlSeconds: 1 });
const term = await leadership.campaign();
console.log(JSON.stringify({ leader: term.epoch }));
setInterval(() => {
  try {
    leadership.check();
    console.log(JSON.stringify({ check: "ok" }));
  } catch {
    console.log(JSON.stringify({ check: "lost" }));
    process.exit(0);
  }
}, 20);
