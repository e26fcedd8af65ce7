import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { connect, type ConnectOptions, type Lease, type LeaseholdClient, type Lock } from "@leasehold/client";

/**
 * The driver for our own `@leasehold/client` (CONFORMANCE.md, "Client mode"): it reads the kit's
 * commands as JSON lines on stdin, does them with the client, and writes answers and events as JSON
 * lines on stdout. Run it as the kit's `--driver-cmd`:
 *
 *   node --conditions=source --import tsx packages/conformance/src/client/drivers/node-driver.ts
 *
 * It is the driver, not the kit: the kit itself never imports @leasehold/client.
 */
export async function runNodeDriver(options: Partial<ConnectOptions> = {}, input: NodeJS.ReadableStream = process.stdin): Promise<void> {
  const driver = new NodeDriver(options);
  const lines = createInterface({ input });
  const running = new Set<Promise<void>>();
  for await (const line of lines) {
    // Commands run side by side: an acquire that waits must not hold up the commands after it.
    const work = driver.handle(line);
    running.add(work);
    void work.finally(() => running.delete(work));
  }
  await driver.shutdown();
}

/** Everything a command can name: the client and the handles earlier commands made. */
class NodeDriver {
  #client: LeaseholdClient | undefined;
  readonly #leases = new Map<string, Lease>();
  readonly #locks = new Map<string, Lock>();

  constructor(readonly options: Partial<ConnectOptions>) {}

  async handle(line: string): Promise<void> {
    let command: Command;
    try {
      command = JSON.parse(line) as Command;
    } catch {
      process.stderr.write(`node-driver: not a JSON line: ${line}\n`);
      return;
    }
    try {
      write({ id: command.id, ok: await this.#do(command) });
    } catch (error) {
      const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "DRIVER_ERROR";
      write({ id: command.id, error: { code, message: error instanceof Error ? error.message : String(error) } });
    }
  }

  /** Says goodbye when the kit closes stdin; a kit that has already hung up does not answer, so do not wait long. */
  async shutdown(): Promise<void> {
    const client = this.#client;
    if (client !== undefined) await Promise.race([client.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 500))]);
    process.exit(0);
  }

  async #do(command: Command): Promise<Record<string, unknown>> {
    switch (command.do) {
      case "connect":
        this.#client = await connect(String(command.url), { agent: "leasehold-conformance node-driver", ...this.options });
        return {};
      case "grant": {
        const lease = await this.#requireClient().leases.grant(Number(command.ttl), { keepAlive: command.keepAlive !== false });
        this.#leases.set(command.id, lease);
        reportLoss(command.id, lease.signal);
        return { lease: lease.id };
      }
      case "acquire": {
        const lease = this.#leases.get(String(command.lease));
        if (lease === undefined) throw new Error(`no lease handle ${String(command.lease)}`);
        const wait = command.wait === true || typeof command.wait === "number" ? command.wait : undefined;
        const lock = await this.#requireClient().locks.acquire(String(command.name), lease.id, wait === undefined ? {} : { wait });
        if (!lock.acquired) return { acquired: false };
        this.#locks.set(command.id, lock);
        reportLoss(command.id, lock.signal);
        return { acquired: true, token: lock.token };
      }
      case "release": {
        const lock = this.#locks.get(String(command.lock));
        if (lock === undefined) throw new Error(`no lock handle ${String(command.lock)}`);
        await lock.release();
        return {};
      }
      default:
        throw new Error(`unknown command ${JSON.stringify(command.do)}`);
    }
  }

  #requireClient(): LeaseholdClient {
    if (this.#client === undefined) throw new Error("no connect command came first");
    return this.#client;
  }
}

interface Command {
  id: string;
  do: string;
  [field: string]: unknown;
}

/** A handle's signal aborts when it is lost (or released); losses are events, releases were asked for. */
function reportLoss(handle: string, signal: AbortSignal): void {
  signal.addEventListener("abort", () => {
    const reason: unknown = signal.reason;
    const code = typeof reason === "object" && reason !== null && "code" in reason ? String(reason.code) : "UNKNOWN";
    if (code !== "RELEASED") write({ event: "lost", of: handle, code });
  });
}

function write(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await runNodeDriver();
