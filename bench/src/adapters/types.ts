/**
 * The one interface every system is driven through, so that each workload is written once and
 * measures every system the same way.
 */

export type SystemName = "leasehold" | "redis" | "redis-fenced" | "etcd";

export interface AcquireOptions {
  /** false: answer at once. true: wait until granted (or `signal` aborts). A number: wait at most that many ms. */
  wait: boolean | number;
  signal?: AbortSignal;
  /**
   * Called once a wait is known to sit in the server's queue (or was granted at once). Systems that
   * cannot tell never call it; their waiter pools offer a `barrier` instead.
   */
  onQueued?: () => void;
}

export interface AcquireResult {
  acquired: boolean;
  /** A fencing token that grows with every grant of the lock, when the system has one. */
  token?: number;
}

export interface LockClient {
  /** Not acquired (rather than an error) when a try finds the lock held, a wait times out or `signal` aborts. */
  acquire(name: string, ttlMs: number, options: AcquireOptions): Promise<AcquireResult>;
  /** Releases a lock this client holds. Resolves to false when the lock was no longer ours (expired or taken). */
  release(name: string): Promise<boolean>;
  /**
   * Calls `listener` once if a lock this client holds is lost before its release (its lease ended,
   * the connection closed), with the reason as the client learnt it. Systems that cannot tell omit it.
   */
  onLost?(name: string, listener: (reason: string) => void): void;
  put(key: string, value: string): Promise<void>;
  /**
   * Writes only while `fence.lock` is still held by this client under the grant whose token is
   * `fence.token`, checked by the server in the same request; false when refused (nothing written).
   * Fenced systems only (`LockSystem.fenced`): the others have no token to check.
   */
  fencedPut(key: string, value: string, fence: FenceToken): Promise<boolean>;
  get(key: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** A lock this client holds and the token of its grant, as a fenced write names them. */
export interface FenceToken {
  lock: string;
  token: number;
}

export interface ConnectOptions {
  /** Local address for the client's socket (127.0.0.x), to spread many clients over more ephemeral ports. */
  localAddress?: string;
}

export interface LockSystem {
  readonly name: SystemName;
  /** Tokens are fencing tokens: they must grow with every grant of one lock. */
  readonly fenced: boolean;
  /** The server queues waiters (FIFO); without a queue, waiting is client-side retrying. */
  readonly queued: boolean;
  connect(options?: ConnectOptions): Promise<LockClient>;
  /** Systems with a queue: `count` waiters, each with a lease of its own, sharing `connections` connections. */
  openWaiters?(count: number, connections: number): Promise<WaiterPool>;
}

export interface WaiterPool {
  readonly clients: readonly LockClient[];
  /** Whether acquires call `onQueued`; otherwise `barrier` proves that what was sent is queued. */
  readonly reportsQueued: boolean;
  /** Resolves once the acquires of `clients[from]` to `clients[to - 1]` (started) are queued. */
  barrier?(from: number, to: number): Promise<void>;
  close(): Promise<void>;
}

/** Sleeps `ms`, or less when `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The absolute deadline (ms since epoch, from performance.now()) a wait option implies. */
export function waitDeadline(wait: boolean | number, now: number): number {
  if (wait === true) return Number.POSITIVE_INFINITY;
  if (wait === false) return now;
  return now + wait;
}
