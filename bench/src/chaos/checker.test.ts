import { describe, expect, it } from "vitest";
import { checkHistory, type CheckResult, type ViolationClass } from "./checker.js";
import type { FaultKind, HistoryEvent, Invocation, Outcome, StoredEntry } from "./history.js";

const TTL = 1_000;

describe("checkHistory", () => {
  it("passes a history where holders take turns, writes land and a lock is held again soon after a fault", () => {
    const story = new Story();
    const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 1_000 });
    story.put("w1", a, "L/first", { at: 20, revision: 6 });
    story.put("w1", a, "L/second", { at: 30, revision: 7 });
    story.incr("w1", "C", { at: 40, value: 1 });
    story.release("w1", a, 50);
    // w2 waited since 5 (before w1's grant was answered), granted after the release.
    const b = story.grant("w2", "L", { invokedAt: 5, at: 60, token: 8, deadline: 1_100 });
    story.put("w2", b, "L/first", { at: 70, revision: 9 });
    story.release("w2", b, 80);
    story.fault("cut-worker", "w1", 100, 2_000);
    story.grant("w1", "L", { invokedAt: 2_100, at: 2_200, token: 10, deadline: 3_000 });
    story.read(2_300, 2_310, { C: 1 }, { "L/first": { value: "w2@8", revision: 9 }, "L/second": { value: "w1@5", revision: 7 } });
    const result = check(story);
    expect(result.violations).toEqual([]);
    expect(result.counts).toMatchObject({ grants: 3, putsAcknowledged: 3, increments: 1, reads: 1, lateActions: 0 });
    expect(result.faults["cut-worker"]).toBe(1);
    expect(result.recoveryMs["cut-worker"]).toEqual([200]);
  });

  describe("overlap", () => {
    it("flags a grant while the previous holder's deadline had not passed and it had not released", () => {
      const story = new Story();
      story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 1_000 });
      story.grant("w2", "L", { invokedAt: 5, at: 600, token: 8, deadline: 1_500 });
      expect(classes(check(story))).toEqual(["overlap"]);
    });

    it("judges by the last deadline the holder recorded while it saw the lock held, not by its first", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 1_000 });
      // Kept alive: a later look saw a later deadline.
      story.look("w1", a, { at: 900, held: true, deadline: 1_900 });
      story.grant("w2", "L", { invokedAt: 5, at: 1_200, token: 8, deadline: 2_200 });
      expect(classes(check(story))).toEqual(["overlap"]);
    });

    it("does not count a holder paused past its deadline as a second holder: what it sends late, fencing refuses", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 1_000 });
      story.grant("w2", "L", { invokedAt: 5, at: 1_100, token: 8, deadline: 2_100 });
      // w1 was stopped from 20 to 3000: it sends its put on waking, sees the loss only then, and releases.
      story.put("w1", a, "L/first", { invokedAt: 3_000, at: 3_010, code: "FENCE_FAILED" });
      story.look("w1", a, { at: 3_011, held: false, deadline: 1_000 });
      story.release("w1", a, 3_012);
      const result = check(story);
      expect(result.violations).toEqual([]);
      expect(result.counts).toMatchObject({ lateActions: 1, putsFenced: 1 });
    });

    it("does not count a holder that released (or saw its loss) before the next grant", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 5_000 });
      story.release("w1", a, 100);
      const b = story.grant("w2", "L", { invokedAt: 5, at: 110, token: 8, deadline: 5_000 });
      story.look("w2", b, { at: 200, held: false, deadline: 5_000 });
      story.grant("w3", "L", { invokedAt: 5, at: 210, token: 9, deadline: 5_000 });
      expect(check(story).violations).toEqual([]);
    });
  });

  describe("stale-write", () => {
    it("flags a fenced put acknowledged after its lock was granted again", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 1_000 });
      story.grant("w2", "L", { invokedAt: 5, at: 1_100, token: 8, deadline: 2_100 });
      story.put("w1", a, "L/first", { invokedAt: 3_000, at: 3_010, revision: 9 });
      const result = check(story);
      expect(classes(result)).toEqual(["stale-write"]);
      expect(result.violations[0]!.message).toContain("after the lock was granted again with token 8");
    });

    it("flags acknowledged puts of one lock whose tokens go down in revision order, even when the later grant is unknown", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 1_000 });
      // w2's grant (token 8) was never answered: only its put tells of it.
      story.invoke("w2", { op: "acquire", lock: "L" }, 5);
      story.put("w2", { process: "w2", lock: "L", token: 8 }, "L/first", { invokedAt: 1_100, at: 1_110, revision: 9 });
      story.put("w1", a, "L/second", { invokedAt: 3_000, at: 3_010, revision: 10 });
      expect(classes(check(story))).toEqual(["stale-write"]);
    });

    it("flags a refused put that a read shows written", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 1_000 });
      story.put("w1", a, "L/first", { invokedAt: 20, at: 30, code: "FENCE_FAILED" });
      story.read(100, 110, {}, { "L/first": { value: "w1@5", revision: 6 } });
      expect(classes(check(story))).toEqual(["stale-write"]);
    });
  });

  describe("token-order", () => {
    it("flags a token handed out twice", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 100 });
      story.release("w1", a, 50);
      story.grant("w2", "M", { invokedAt: 0, at: 200, token: 5, deadline: 1_000 });
      expect(classes(check(story))).toEqual(["token-order"]);
    });

    it("flags a grant asked for after another was answered that got the smaller token", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 50, deadline: 100 });
      story.release("w1", a, 50);
      story.grant("w2", "L", { invokedAt: 200, at: 210, token: 40, deadline: 1_000 });
      expect(classes(check(story))).toEqual(["token-order"]);
    });

    it("flags a token below a revision acknowledged before it was asked for (a restart that lost its counter)", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 90, deadline: 100 });
      story.put("w1", a, "L/first", { at: 20, revision: 100 });
      story.release("w1", a, 30);
      story.grant("w2", "M", { invokedAt: 5_000, at: 5_010, token: 95, deadline: 6_000 });
      expect(classes(check(story))).toEqual(["token-order"]);
    });

    it("accepts tokens out of answer order when the requests overlapped in time", () => {
      const story = new Story();
      const a = story.grant("w1", "L", { invokedAt: 0, at: 300, token: 60, deadline: 350 });
      story.release("w1", a, 310);
      story.grant("w2", "M", { invokedAt: 100, at: 200, token: 70, deadline: 1_000 });
      expect(check(story).violations).toEqual([]);
    });
  });

  describe("lost-write", () => {
    it("flags a counter read below its acknowledged increments", () => {
      const story = new Story();
      story.incr("w1", "C", { at: 10, value: 1 });
      story.incr("w1", "C", { at: 20, value: 2 });
      story.read(100, 110, { C: 1 }, {});
      expect(classes(check(story))).toEqual(["lost-write"]);
    });

    it("flags a counter read above the increments ever invoked (one applied twice)", () => {
      const story = new Story();
      story.incr("w1", "C", { at: 10, value: 1 });
      story.read(100, 110, { C: 2 }, {});
      expect(classes(check(story))).toEqual(["lost-write"]);
    });

    it("allows an increment of unknown outcome to have happened, or not", () => {
      for (const value of [1, 2]) {
        const story = new Story();
        story.incr("w1", "C", { at: 10, value: 1 });
        story.incr("w1", "C", { at: 20, code: "OUTCOME_UNKNOWN" });
        story.read(100, 110, { C: value }, {});
        expect(check(story).violations).toEqual([]);
      }
    });

    it("flags an increment answered with a value not above one answered before it was invoked", () => {
      const story = new Story();
      story.incr("w1", "C", { invokedAt: 0, at: 10, value: 7 });
      story.incr("w2", "C", { invokedAt: 20, at: 30, value: 7 });
      expect(classes(check(story))).toEqual(["lost-write"]);
    });

    it("flags a key read at a revision older than a put acknowledged before the read, or absent", () => {
      for (const entry of [{ value: "w1@5", revision: 6 }, null]) {
        const story = new Story();
        const a = story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 1_000 });
        story.put("w1", a, "L/first", { at: 20, revision: 6 });
        story.release("w1", a, 30);
        const b = story.grant("w2", "L", { invokedAt: 0, at: 40, token: 7, deadline: 1_000 });
        story.put("w2", b, "L/first", { at: 50, revision: 8 });
        story.read(100, 110, {}, { "L/first": entry });
        expect(classes(check(story))).toEqual(["lost-write"]);
      }
    });

    it("flags a value that no put wrote", () => {
      const story = new Story();
      story.read(100, 110, {}, { "L/first": { value: "w9@1", revision: 3 } });
      expect(classes(check(story))).toEqual(["lost-write"]);
    });
  });

  describe("unavailable", () => {
    it("flags a lock not held again within TTL + 1 s of a heal", () => {
      const story = new Story();
      story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 500 });
      story.fault("kill-member", "server", 1_000, 2_000);
      story.grant("w2", "L", { invokedAt: 100, at: 4_100, token: 8, deadline: 5_000 });
      const result = check(story);
      expect(classes(result)).toEqual(["unavailable"]);
      expect(result.violations[0]!.message).toContain("held again only 2100 ms after kill-member of server");
    });

    it("flags a lock never held again after a heal", () => {
      const story = new Story();
      story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 500 });
      story.fault("pause-member", "server", 1_000, 2_000);
      expect(check(story).violations[0]?.message).toContain("never held again");
    });

    it("does not judge a heal whose window another fault or the end of the run disturbs", () => {
      for (const disturbance of ["fault", "end"] as const) {
        const story = new Story();
        story.grant("w1", "L", { invokedAt: 0, at: 10, token: 5, deadline: 500 });
        story.fault("pause-worker", "w1", 1_000, 2_000);
        if (disturbance === "fault") story.fault("cut-worker", "w2", 2_500, 10_000);
        else story.events.push({ type: "phase", name: "stopping", at: 2_500, ttlMs: TTL });
        story.grant("w2", "L", { invokedAt: 100, at: 20_000, token: 8, deadline: 21_000 });
        const result = check(story);
        expect(classes(result).filter((name) => name === "unavailable")).toEqual(disturbance === "fault" ? ["unavailable"] : []);
        expect(result.counts.healsSkipped).toBe(1);
      }
    });
  });

  it("flags an answer without an invocation as a broken history", () => {
    const story = new Story();
    story.events.push({ type: "ok", process: "w1", id: 7, at: 10, result: { op: "release" } });
    expect(classes(check(story))).toEqual(["history"]);
  });
});

function check(story: Story): CheckResult {
  return checkHistory([...story.events].sort((a, b) => a.at - b.at), { ttlMs: TTL });
}

function classes(result: CheckResult): ViolationClass[] {
  return result.violations.map((violation) => violation.class);
}

/** A hand-written history: each helper writes the events one worker step would. */
class Story {
  readonly events: HistoryEvent[] = [];
  #nextId = 1;
  #faults = 0;

  invoke(process: string, call: Invocation, at: number): number {
    const id = this.#nextId++;
    this.events.push({ type: "invoke", process, id, at, call });
    return id;
  }

  /** An acknowledged grant, and the holder's look right after it (held, with its deadline). */
  grant(process: string, lock: string, step: { invokedAt: number; at: number; token: number; deadline: number }): Holding {
    const id = this.invoke(process, { op: "acquire", lock }, step.invokedAt);
    this.#answer(process, id, step.at, { op: "acquire", token: step.token });
    this.look(process, { id }, { at: step.at, held: true, deadline: step.deadline });
    return { process, lock, token: step.token, id };
  }

  look(process: string, holding: { id: number }, view: { at: number; held: boolean; deadline: number }): void {
    this.events.push({ type: "hold", process, id: holding.id, ...view });
  }

  put(process: string, holding: Omit<Holding, "id">, key: string, step: { invokedAt?: number; at: number; revision?: number; code?: string }): void {
    const value = `${holding.process}@${holding.token}`;
    const id = this.invoke(process, { op: "put", lock: holding.lock, key, token: holding.token, value }, step.invokedAt ?? step.at - 1);
    if (step.code !== undefined) this.events.push({ type: "fail", process, id, at: step.at, code: step.code });
    else this.#answer(process, id, step.at, { op: "put", revision: step.revision! });
  }

  incr(process: string, counter: string, step: { invokedAt?: number; at: number; value?: number; code?: string }): void {
    const id = this.invoke(process, { op: "incr", counter }, step.invokedAt ?? step.at - 1);
    if (step.code !== undefined) this.events.push({ type: "fail", process, id, at: step.at, code: step.code });
    else this.#answer(process, id, step.at, { op: "incr", value: step.value! });
  }

  release(process: string, holding: Holding, at: number): void {
    const id = this.invoke(process, { op: "release", lock: holding.lock, token: holding.token }, at);
    this.#answer(process, id, at + 1, { op: "release" });
  }

  read(invokedAt: number, at: number, counters: Record<string, number>, keys: Record<string, StoredEntry | null>): void {
    const id = this.invoke("reader", { op: "read", counters: Object.keys(counters), keys: Object.keys(keys) }, invokedAt);
    this.#answer("reader", id, at, { op: "read", counters, keys });
  }

  fault(kind: FaultKind, target: string, start: number, heal: number): void {
    const fault = ++this.#faults;
    this.events.push({ type: "fault", phase: "start", fault, kind, target, at: start }, { type: "fault", phase: "heal", fault, kind, target, at: heal });
  }

  #answer(process: string, id: number, at: number, result: Outcome): void {
    this.events.push({ type: "ok", process, id, at, result });
  }
}

interface Holding {
  readonly process: string;
  readonly lock: string;
  readonly token: number;
  readonly id: number;
}
