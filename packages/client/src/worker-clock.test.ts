import { afterEach, describe, expect, it, vi } from "vitest";
import { WorkerClock, type WorkerLike } from "./worker-clock.js";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("WorkerClock", () => {
  it("runs a timer's callback when the worker posts its id back, once, and never after a cancel", () => {
    const worker = new FakeTimerWorker();
    const clock = new WorkerClock(() => worker);
    const fired: string[] = [];
    clock.setTimer(100, () => fired.push("a"));
    const b = clock.setTimer(-5, () => fired.push("b"));
    expect(worker.commands).toEqual([
      { id: 1, delay: 100 },
      { id: 2, delay: 0 },
    ]);
    b.cancel();
    b.cancel();
    expect(worker.commands.at(-1)).toEqual({ id: 2 });
    expect(worker.commands).toHaveLength(3);
    // The worker's message for b was already on its way when b was cancelled.
    worker.fire(2);
    worker.fire(1);
    worker.fire(1);
    expect(fired).toEqual(["a"]);
    expect(clock.failure).toBeUndefined();
  });

  it("when the worker fails, says so once (listeners and a console warning) and moves pending timers to the page's own", () => {
    vi.useFakeTimers();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const worker = new FakeTimerWorker();
    const clock = new WorkerClock(() => worker);
    const early = vi.fn();
    const reasons: string[] = [];
    clock.onFailure((reason) => reasons.push(reason));
    clock.setTimer(1_000, early);

    worker.failed("Refused to create a worker from 'blob:…': worker-src 'self'");
    worker.failed("again");
    expect(reasons).toEqual(["the timer worker failed: Refused to create a worker from 'blob:…': worker-src 'self'"]);
    expect(clock.failure).toBe(reasons[0]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain("worker-src blob:");
    expect(worker.terminated).toBe(true);

    // A listener added after the failure hears of it at once.
    const late = vi.fn();
    clock.onFailure(late);
    expect(late).toHaveBeenCalledWith(reasons[0]);

    const after = vi.fn();
    clock.setTimer(500, after);
    expect(worker.commands).toHaveLength(1);
    vi.advanceTimersByTime(500);
    expect(after).toHaveBeenCalledTimes(1);
    expect(early).not.toHaveBeenCalled();
    vi.advanceTimersByTime(500);
    expect(early).toHaveBeenCalledTimes(1);
  });

  it("reports a worker that cannot even be created", () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const clock = new WorkerClock(() => {
      throw new Error("SecurityError: blob: URLs are refused");
    });
    const listener = vi.fn();
    clock.onFailure(listener);
    expect(listener).toHaveBeenCalledWith(expect.stringContaining("could not be created"));
    expect(clock.failure).toContain("SecurityError");
  });
});

class FakeTimerWorker implements WorkerLike {
  readonly commands: { id: number; delay?: number }[] = [];
  terminated = false;
  #fired: ((id: number) => void) | undefined;
  #failed: ((reason: string) => void) | undefined;

  postMessage(command: { id: number; delay?: number }): void {
    this.commands.push(command);
  }

  terminate(): void {
    this.terminated = true;
  }

  listen(fired: (id: number) => void, failed: (reason: string) => void): void {
    this.#fired = fired;
    this.#failed = failed;
  }

  fire(id: number): void {
    this.#fired?.(id);
  }

  failed(reason: string): void {
    this.#failed?.(reason);
  }
}
