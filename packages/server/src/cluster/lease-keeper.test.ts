import { describe, expect, it } from "vitest";
import { FakeClock } from "@leasehold/protocol";
import { LeaseKeeper } from "./lease-keeper.js";
import { Leadership, LeadershipLost, type LeadershipOptions } from "./leadership.js";

/** Keepalives the test answers by hand: each call waits until `answer` or `fail`. */
class ManualKeepAlive {
  readonly sent: { at: number; resolve: (ttl: number) => void; reject: (error: Error) => void }[] = [];
  constructor(readonly clock: FakeClock) {}
  readonly call = (): Promise<number> => new Promise((resolve, reject) => this.sent.push({ at: this.clock.now(), resolve, reject }));
  async answer(index: number, ttlSeconds: number): Promise<void> {
    this.sent[index]!.resolve(ttlSeconds);
    await flush();
  }
  async fail(index: number): Promise<void> {
    this.sent[index]!.reject(new Error("unavailable"));
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function keeper(clock: FakeClock, keepAlive: ManualKeepAlive, losses: string[]): LeaseKeeper {
  // TTL 3 s, granted (request sent) at t=0, margin 100 ms: surely alive until 2,900.
  return new LeaseKeeper("7", 3_000, 0, keepAlive.call, clock, 100, (reason) => losses.push(reason));
}

describe("LeaseKeeper: the deadline counts from the send time of the last acknowledged keepalive", () => {
  it("moves the deadline to send time + TTL - margin, however late the answer arrives", async () => {
    const clock = new FakeClock();
    const keepAlive = new ManualKeepAlive(clock);
    const losses: string[] = [];
    const lease = keeper(clock, keepAlive, losses);
    expect(lease.deadline).toBe(2_900);
    clock.advance(1_000);
    expect(keepAlive.sent.map((entry) => entry.at)).toEqual([1_000]);
    clock.advance(1_500); // the answer takes 1.5 s to arrive
    await keepAlive.answer(0, 3);
    expect(lease.deadline).toBe(1_000 + 3_000 - 100);
    expect(lease.lost).toBeUndefined();
    // Not 2,500 + 3,000: the lease was renewed somewhere between 1,000 and 2,500.
    clock.advance(1_399);
    expect(lease.lost).toBeUndefined();
    clock.advance(1);
    expect(lease.lost).toMatch(/no keepalive .* acknowledged within its TTL/);
    expect(losses).toHaveLength(1);
  });

  it("keeps a lease answered every time alive indefinitely, one keepalive in flight at a time, every TTL/3", async () => {
    const clock = new FakeClock();
    const keepAlive = new ManualKeepAlive(clock);
    const losses: string[] = [];
    const lease = keeper(clock, keepAlive, losses);
    for (let round = 0; round < 10; round++) {
      clock.advance(1_000);
      expect(keepAlive.sent).toHaveLength(round + 1);
      clock.advance(50);
      await keepAlive.answer(round, 3);
    }
    expect(keepAlive.sent.map((entry) => entry.at).slice(0, 3)).toEqual([1_000, 2_000, 3_000]);
    expect(lease.lost).toBeUndefined();
    expect(losses).toEqual([]);
    lease.stop();
    clock.advance(60_000);
    expect(keepAlive.sent).toHaveLength(10);
  });

  it("a failed keepalive is retried after TTL/10 and leaves the deadline where it was", async () => {
    const clock = new FakeClock();
    const keepAlive = new ManualKeepAlive(clock);
    const lease = keeper(clock, keepAlive, []);
    clock.advance(1_000);
    await keepAlive.fail(0);
    expect(lease.deadline).toBe(2_900);
    clock.advance(300);
    expect(keepAlive.sent.map((entry) => entry.at)).toEqual([1_000, 1_300]);
    await keepAlive.answer(1, 3);
    expect(lease.deadline).toBe(4_200);
  });

  it("is lost at once when etcd says the lease is gone (TTL 0)", async () => {
    const clock = new FakeClock();
    const keepAlive = new ManualKeepAlive(clock);
    const losses: string[] = [];
    const lease = keeper(clock, keepAlive, losses);
    clock.advance(1_000);
    await keepAlive.answer(0, 0);
    expect(lease.lost).toMatch(/expired or was revoked/);
    expect(losses).toHaveLength(1);
  });

  it("after a pause longer than the TTL it is lost before any timer runs, even if an old answer then arrives", async () => {
    const clock = new FakeClock();
    const keepAlive = new ManualKeepAlive(clock);
    const losses: string[] = [];
    const lease = keeper(clock, keepAlive, losses);
    clock.advance(1_000);
    clock.jump(5_000); // SIGSTOP, then SIGCONT: no timer has fired yet
    expect(lease.lost).toMatch(/paused/);
    await keepAlive.answer(0, 3); // sent at 1,000: says nothing about after 3,900
    expect(lease.lost).toBeDefined();
    expect(losses).toHaveLength(1);
  });
});

describe("Leadership.check on fake time", () => {
  function fakeEtcd(clock: FakeClock, keepAlive: ManualKeepAlive): LeadershipOptions["client"] {
    void clock;
    return {
      grantLease: async (ttlSeconds) => ({ id: "255", ttlSeconds }),
      keepAliveOnce: keepAlive.call,
      revokeLease: async () => undefined,
      txn: async () => ({ succeeded: true, revision: 42, ranges: [] }),
      getPrefix: async () => ({ kvs: [], revision: 42 }),
      waitForDelete: async () => undefined,
    };
  }

  it("passes while the lease is surely alive and throws, before any timer fires, once a pause passed the deadline", async () => {
    const clock = new FakeClock(10_000);
    const keepAlive = new ManualKeepAlive(clock);
    const leadership = new Leadership({ client: fakeEtcd(clock, keepAlive), prefix: "/e/", ttlSeconds: 2, clock, marginMs: 100 });
    expect(() => leadership.check()).toThrow(LeadershipLost);
    const term = await leadership.campaign();
    expect(term).toEqual({ key: "/e/ff", epoch: 42, lease: "255" });
    leadership.check();
    clock.advance(700);
    await keepAlive.answer(0, 2);
    expect(leadership.deadline).toBeCloseTo(10_000 + 2_000 / 3 + 2_000 - 100);
    leadership.check();
    clock.jump(3_000);
    expect(() => leadership.check()).toThrow(/paused/);
    expect(leadership.state.state).toBe("lost");
  });
});
