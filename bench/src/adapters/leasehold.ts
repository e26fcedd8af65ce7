import { connect, FenceError, LeaseholdError, ReleasedError, type Lease, type LeaseholdClient, type Lock, type WebSocketConstructor } from "@leasehold/client";
import WebSocket from "ws";
import type { AcquireOptions, AcquireResult, ConnectOptions, FenceToken, LockClient, LockSystem, WaiterPool } from "./types.js";

/** leasehold through its own client: one session per client, one kept-alive lease per client. */
export function leaseholdSystem(url: string): LockSystem {
  return {
    name: "leasehold",
    fenced: true,
    queued: true,
    async connect(options?: ConnectOptions) {
      return new LeaseholdLockClient(await open(url, options?.localAddress), true);
    },
    openWaiters(count, connections) {
      return leaseholdWaiters(url, count, connections);
    },
  };
}

/**
 * Many waiters on few sessions, for the queue-depth workload: `count` lock clients, each with a lease
 * of its own, spread over `connections` sessions.
 */
async function leaseholdWaiters(url: string, count: number, connections: number): Promise<WaiterPool> {
  const sessions = await Promise.all(Array.from({ length: Math.max(1, Math.min(count, connections)) }, () => open(url, undefined)));
  const clients = Array.from({ length: count }, (_, index) => new LeaseholdLockClient(sessions[index % sessions.length] as LeaseholdClient, false));
  return {
    clients,
    reportsQueued: false,
    // A server reads each connection in order: a reply to a request sent now proves that every
    // acquire sent before it on that connection has been queued. An acquire is sent once its
    // lease is granted, so wait for the grants, then one turn of the event loop for the sends.
    async barrier(from, to) {
      await Promise.all(clients.slice(from, to).map((client) => client.leaseGranted()));
      await new Promise((resolve) => setImmediate(resolve));
      // Client i is on session i % sessions.length (above).
      const used = new Set(Array.from({ length: Math.min(to - from, sessions.length) }, (_, offset) => sessions[(from + offset) % sessions.length] as LeaseholdClient));
      await Promise.all(
        [...used].map(async (session) => {
          const lease = session.leases.list()[0];
          if (lease !== undefined) await session.leases.timeToLive(lease.id);
        }),
      );
    },
    async close() {
      await Promise.all(sessions.map((session) => session.close()));
    },
  };
}

async function open(url: string, localAddress: string | undefined): Promise<LeaseholdClient> {
  if (localAddress === undefined) return connect(url, { autoReconnect: false, agent: "@leasehold/bench" });
  // Sessions workload: bind the socket to 127.0.0.x so that tens of thousands of clients do not run
  // out of ephemeral ports on a single source address.
  class BoundWebSocket extends WebSocket {
    constructor(target: string) {
      super(target, { localAddress });
    }
  }
  return connect(url, { autoReconnect: false, agent: "@leasehold/bench", WebSocket: BoundWebSocket as unknown as WebSocketConstructor });
}

class LeaseholdLockClient implements LockClient {
  private lease: Promise<Lease> | undefined;
  private readonly held = new Map<string, Lock>();

  constructor(
    private readonly client: LeaseholdClient,
    /** Whether close() also closes the session (false for waiters that share one). */
    private readonly ownsSession: boolean,
  ) {}

  async acquire(name: string, ttlMs: number, options: AcquireOptions): Promise<AcquireResult> {
    const lease = await this.leaseFor(ttlMs);
    let lock: Lock;
    try {
      lock = await this.client.locks.acquire(name, lease.id, { wait: options.wait, ...(options.signal && { signal: options.signal }) });
    } catch (error) {
      // An aborted wait rejects with the signal's reason; for the workloads that is "not acquired".
      if (options.signal?.aborted === true) return { acquired: false };
      throw error;
    }
    if (!lock.acquired) return { acquired: false };
    this.held.set(name, lock);
    return lock.token === undefined ? { acquired: true } : { acquired: true, token: lock.token };
  }

  async release(name: string): Promise<boolean> {
    const lock = this.held.get(name);
    if (lock === undefined) return false;
    this.held.delete(name);
    const stillHeld = lock.held;
    await lock.release();
    return stillHeld;
  }

  onLost(name: string, listener: (reason: string) => void): void {
    const signal = this.held.get(name)?.signal;
    signal?.addEventListener("abort", () => {
      const reason: unknown = signal.reason;
      if (reason instanceof ReleasedError) return;
      listener(reason instanceof LeaseholdError ? `${reason.code}: ${reason.message}` : String(reason));
    }, { once: true });
  }

  async put(key: string, value: string): Promise<void> {
    await this.client.put(key, value);
  }

  /** The client's own fenced write: the server applies it only while the lock is held with exactly this token. */
  async fencedPut(key: string, value: string, fence: FenceToken): Promise<boolean> {
    try {
      await this.client.put(key, value, { fence });
      return true;
    } catch (error) {
      if (error instanceof FenceError) return false;
      throw error;
    }
  }

  async get(key: string): Promise<string | undefined> {
    const entry = await this.client.get(key);
    if (entry === null) return undefined;
    return typeof entry.value === "string" ? entry.value : JSON.stringify(entry.value);
  }

  async close(): Promise<void> {
    if (this.ownsSession) await this.client.close();
  }

  /** Resolves once this client's lease (if it asked for one) is granted. */
  async leaseGranted(): Promise<void> {
    await this.lease;
  }

  private leaseFor(ttlMs: number): Promise<Lease> {
    this.lease ??= this.client.leases.grant(ttlMs);
    return this.lease;
  }
}
