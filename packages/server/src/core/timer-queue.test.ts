import { isDeepStrictEqual } from "node:util";
import { FakeClock, type Timer } from "@leasehold/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TimerQueue, type Scheduled } from "./timer-queue.js";
import { propertyRuns } from "../../../../test/support/property-runs.js";

type Item = Scheduled & { name: number };

const item = (name: number): Item => ({ name, dueAt: Number.POSITIVE_INFINITY, dueIndex: -1, dueSeq: 0 });

describe("TimerQueue", () => {
  it("fires each item when it is due, not a millisecond before, and leaves one clock timer pending", () => {
    const clock = new FakeClock(0);
    const fired: [number, number][] = [];
    const queue = new TimerQueue<Item>(clock, (due) => fired.push([due.name, clock.now()]));
    const [a, b, c] = [item(1), item(2), item(3)];
    queue.schedule(a, 300);
    queue.schedule(b, 100);
    queue.schedule(c, 200);
    expect(clock.pending).toBe(1);
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([[2, 100]]);
    queue.cancel(c);
    queue.schedule(b, 50); // rescheduled from its own callback's aftermath: due at 150
    clock.advance(1_000);
    expect(fired).toEqual([[2, 100], [2, 150], [1, 300]]);
    expect(queue.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("orders and times firings exactly as one clock timer per item would, through any schedules and cancels", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("schedule" as const), item: fc.nat(7), delay: fc.nat(50) }),
      fc.record({ kind: fc.constant("cancel" as const), item: fc.nat(7) }),
      fc.record({ kind: fc.constant("advance" as const), ms: fc.nat(40) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        // The same script against a queue and against plain clock timers; firing reschedules odd items.
        const run = (useQueue: boolean): string[] => {
          const clock = new FakeClock(0);
          const log: string[] = [];
          const items = Array.from({ length: 8 }, (_, name) => item(name));
          const timers = new Map<number, Timer>();
          let schedule: (name: number, delay: number) => void;
          let cancel: (name: number) => void;
          const onDue = (name: number) => {
            log.push(`${name}@${clock.now()}`);
            if (name % 2 === 1 && clock.now() < 200) schedule(name, name * 7);
          };
          if (useQueue) {
            const queue = new TimerQueue<Item>(clock, (due) => onDue(due.name));
            schedule = (name, delay) => queue.schedule(items[name]!, delay);
            cancel = (name) => queue.cancel(items[name]!);
          } else {
            schedule = (name, delay) => {
              timers.get(name)?.cancel();
              timers.set(name, clock.setTimer(delay, () => (timers.delete(name), onDue(name))));
            };
            cancel = (name) => {
              timers.get(name)?.cancel();
              timers.delete(name);
            };
          }
          for (const step of ops) {
            if (step.kind === "schedule") schedule(step.item, step.delay);
            else if (step.kind === "cancel") cancel(step.item);
            else clock.advance(step.ms);
          }
          clock.advance(1_000);
          return log;
        };
        const queued = run(true);
        const timed = run(false);
        // Node's deep equality first; vitest's matcher (and its diff) for a mismatch only.
        if (!isDeepStrictEqual(queued, timed)) expect(queued).toEqual(timed);
      }),
      { numRuns: propertyRuns(100) },
    );
  });

  it("clear drops every item and the clock timer", () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    const queue = new TimerQueue<Item>(clock, (due) => fired.push(due.name));
    const items = [item(1), item(2)];
    for (const each of items) queue.schedule(each, 10);
    queue.clear();
    clock.advance(100);
    expect(fired).toEqual([]);
    expect(clock.pending).toBe(0);
    expect(items.map((each) => each.dueIndex)).toEqual([-1, -1]);
  });
});
