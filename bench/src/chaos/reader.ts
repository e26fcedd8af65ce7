import { connect } from "@leasehold/client";
import { sharedNow, type HistoryWriter, type StoredEntry } from "./history.js";
import { counterOf, keysOf } from "./names.js";

/** Between the tries of a read. */
const RETRY_MS = 250;

/**
 * The runner's reads of every counter and key, straight from the topology's URLs (no proxy): after
 * each fault heals, and once more at the end. The checker holds each read to every write acknowledged
 * before it was invoked, so a read right after a restart shows whether the restart kept them.
 */
export class StateReader {
  #nextId = 1;

  constructor(
    readonly urls: readonly string[],
    readonly locks: readonly string[],
    readonly history: HistoryWriter,
  ) {}

  /**
   * Reads and records, and tries again until one read succeeds or `timeoutMs` has passed: right after a
   * heal the service may not be back yet (a cluster electing its next leader, a restarted server loading
   * its data). Each try is its own read in the history; a failed one is recorded as failed, not thrown.
   */
  async read(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.#readOnce(deadline - Date.now())) && Date.now() + RETRY_MS < deadline) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  /** One read, recorded: whether it succeeded. */
  async #readOnce(timeoutMs: number): Promise<boolean> {
    const id = this.#nextId++;
    const counters = this.locks.map(counterOf);
    const keys = this.locks.flatMap((lock) => keysOf(lock));
    this.history.write({ type: "invoke", process: "reader", id, at: sharedNow(), call: { op: "read", counters, keys } });
    const client = await connect([...this.urls], { autoReconnect: false }).catch((error: unknown) => error as Error);
    if (client instanceof Error) {
      this.history.write({ type: "fail", process: "reader", id, at: sharedNow(), code: "NOT_CONNECTED", message: client.message });
      return false;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
      const [counterValues, entries] = await Promise.race([Promise.all([Promise.all(counters.map((name) => client.counters.get(name))), Promise.all(keys.map((key) => client.get(key)))]), timeout]);
      const stored = (entry: { value: unknown; revision: number } | null): StoredEntry | null =>
        entry === null ? null : { value: typeof entry.value === "string" ? entry.value : JSON.stringify(entry.value), revision: entry.revision };
      this.history.write({
        type: "ok",
        process: "reader",
        id,
        at: sharedNow(),
        result: {
          op: "read",
          counters: Object.fromEntries(counters.map((name, index) => [name, counterValues[index]!])),
          keys: Object.fromEntries(keys.map((key, index) => [key, stored(entries[index] ?? null)])),
        },
      });
      return true;
    } catch (error) {
      this.history.write({ type: "fail", process: "reader", id, at: sharedNow(), code: "UNEXPECTED", message: error instanceof Error ? error.message : String(error) });
      return false;
    } finally {
      clearTimeout(timer);
      await client.close().catch(() => {});
    }
  }
}
