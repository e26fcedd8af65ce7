import { connect, createServer } from "node:net";

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

/**
 * Polls until something accepts TCP connections on 127.0.0.1:`port`. Used for servers that print
 * nothing reliable when they are ready; fails early when `exited` settles first.
 */
export async function waitForPort(port: number, exited: Promise<unknown>, timeoutMs: number, name: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${name} exited before listening on port ${port}`);
    if (await accepts(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${name} did not listen on port ${port} within ${timeoutMs} ms`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
