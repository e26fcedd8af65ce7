import { etcdSystem } from "./adapters/etcd.js";
import { leaseholdSystem } from "./adapters/leasehold.js";
import { redisSystem } from "./adapters/redis.js";
import type { LockSystem, SystemName } from "./adapters/types.js";
import type { RunningServer } from "./servers/types.js";

/** A system under test: how to talk to it, and the server process whose CPU and memory we read. */
export interface Subject {
  /** Label in tables: the system's name, or e.g. "leasehold (--data)" for a variant. */
  readonly label: string;
  readonly system: LockSystem;
  readonly server: RunningServer;
  /**
   * Counters of the subject's own besides CPU, read before and after a measured window and reported
   * per operation (`<name>PerOp`): the cluster rows read etcd's WAL fsyncs and writes here.
   */
  readonly counters?: () => Promise<Record<string, number>>;
}

export function makeSystem(name: SystemName, url: string): LockSystem {
  switch (name) {
    case "leasehold":
      return leaseholdSystem(url);
    case "redis":
      return redisSystem(url, false);
    case "redis-fenced":
      return redisSystem(url, true);
    case "etcd":
      return etcdSystem(url);
  }
}

export function subject(name: SystemName, server: RunningServer, label: string = name): Subject {
  return { label, system: makeSystem(name, server.url), server };
}

/** Every system in pass order: odd passes run the list forwards, even passes backwards. */
export function inPassOrder<T>(items: readonly T[], pass: number): T[] {
  return pass % 2 === 1 ? [...items] : [...items].reverse();
}
