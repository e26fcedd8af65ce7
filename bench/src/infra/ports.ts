import { createServer } from "node:net";

/**
 * Asks the kernel for a free port on 127.0.0.1. Redis and etcd take their port on the command line,
 * so we cannot hand them port 0; the small window between closing this probe and the server
 * binding is acceptable on a machine where only our own processes pick ports this way.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      if (address === null || typeof address === "string") {
        probe.close();
        reject(new Error("could not read the probe's port"));
        return;
      }
      probe.close(() => resolve(address.port));
    });
  });
}
