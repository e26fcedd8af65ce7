import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { sleep, waitDeadline, type AcquireOptions, type AcquireResult, type FenceToken, type LockClient, type LockSystem } from "./types.js";

/**
 * Redis locks the way most applications take them: `SET key value NX PX ttl`, released with a
 * compare-and-delete script so that a client never deletes a lock that expired and went to someone
 * else. Redis has no queue, so waiting is retrying after a short sleep.
 *
 * The fenced variant hands out a token from `INCR` in the same round trip (one script doing both),
 * which is what a Redis user needs to get what leasehold's tokens give.
 */

/** Retry interval of a waiting acquire; short, to give Redis its best handoff latency. */
export const RETRY_MS = 1;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const ACQUIRE_FENCED = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) else return 0 end`;
/**
 * A fenced write: SET only while the lock still holds our value and its fence counter is still our
 * token (a later grant would have INCRed it), in one script, so the check and the write are atomic.
 */
const PUT_FENCED = `if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('SET', KEYS[3], ARGV[3]) return 1 else return 0 end`;
/** Keep-alive of a held lock: extend only while it is still ours. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export function redisSystem(url: string, fenced: boolean): LockSystem {
  return {
    name: fenced ? "redis-fenced" : "redis",
    fenced,
    queued: false,
    async connect() {
      const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 10_000 });
      await redis.connect();
      // The plain variant's connect stays as it was (the idle-sessions row times connects): no fenced-put script.
      const [release, acquireFenced, renew, putFenced] = (await Promise.all(
        (fenced ? [RELEASE, ACQUIRE_FENCED, RENEW, PUT_FENCED] : [RELEASE, ACQUIRE_FENCED, RENEW]).map((script) => redis.script("LOAD", script)),
      )) as [string, string, string, string | undefined];
      return new RedisLockClient(redis, fenced, { release, acquireFenced, renew, putFenced });
    },
  };
}

interface Scripts {
  release: string;
  acquireFenced: string;
  renew: string;
  /** Loaded for the fenced variant only. */
  putFenced: string | undefined;
}

interface Held {
  value: string;
  ttlMs: number;
}

class RedisLockClient implements LockClient {
  private readonly held = new Map<string, Held>();
  private readonly prefix = randomBytes(8).toString("hex");
  private sequence = 0;
  private renewal: { timer: NodeJS.Timeout; everyMs: number } | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly fenced: boolean,
    private readonly scripts: Scripts,
  ) {}

  async acquire(name: string, ttlMs: number, options: AcquireOptions): Promise<AcquireResult> {
    // A value unique to this acquisition, so that release and renewal act only on our own grant.
    const value = `${this.prefix}:${++this.sequence}`;
    const deadline = waitDeadline(options.wait, performance.now());
    for (;;) {
      const token = await this.tryOnce(name, value, ttlMs);
      if (token !== undefined) {
        this.held.set(name, { value, ttlMs });
        this.scheduleRenewal(ttlMs);
        return this.fenced ? { acquired: true, token } : { acquired: true };
      }
      if (options.signal?.aborted === true || performance.now() + RETRY_MS > deadline) return { acquired: false };
      await sleep(RETRY_MS, options.signal);
    }
  }

  async release(name: string): Promise<boolean> {
    const held = this.held.get(name);
    if (held === undefined) return false;
    this.held.delete(name);
    const deleted = await this.redis.evalsha(this.scripts.release, 1, name, held.value);
    return deleted === 1;
  }

  async put(key: string, value: string): Promise<void> {
    await this.redis.set(key, value);
  }

  async fencedPut(key: string, value: string, fence: FenceToken): Promise<boolean> {
    if (this.scripts.putFenced === undefined) throw new Error("plain Redis locks carry no token to fence a write with: use redis-fenced");
    const held = this.held.get(fence.lock);
    if (held === undefined) return false;
    const written = await this.redis.evalsha(this.scripts.putFenced, 3, fence.lock, `${fence.lock}:fence`, key, held.value, fence.token, value);
    return written === 1;
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async close(): Promise<void> {
    if (this.renewal !== undefined) clearInterval(this.renewal.timer);
    this.renewal = undefined;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** The token (1 for the plain variant) when acquired, undefined when the lock is taken. */
  private async tryOnce(name: string, value: string, ttlMs: number): Promise<number | undefined> {
    if (this.fenced) {
      const token = await this.redis.evalsha(this.scripts.acquireFenced, 2, name, `${name}:fence`, value, ttlMs);
      return typeof token === "number" && token > 0 ? token : undefined;
    }
    return (await this.redis.set(name, value, "PX", ttlMs, "NX")) === "OK" ? 1 : undefined;
  }

  /**
   * Like a lease's keep-alive (and Redisson's watchdog): one timer per client at a third of the TTL
   * extends every lock still held, so a lock held longer than its TTL is not lost. One interval for
   * all locks keeps the per-acquire cost to a map insert.
   */
  private scheduleRenewal(ttlMs: number): void {
    const everyMs = Math.max(10, Math.floor(ttlMs / 3));
    if (this.renewal !== undefined && this.renewal.everyMs <= everyMs) return;
    if (this.renewal !== undefined) clearInterval(this.renewal.timer);
    const timer = setInterval(() => void this.renewAll(), everyMs);
    this.renewal = { timer, everyMs };
  }

  private async renewAll(): Promise<void> {
    if (this.held.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [name, { value, ttlMs }] of this.held) pipeline.evalsha(this.scripts.renew, 1, name, value, ttlMs);
    await pipeline.exec().catch(() => undefined);
  }
}
