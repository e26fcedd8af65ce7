import { systemClock, type Clock, type Timer } from "@leasehold/protocol";

/**
 * The page's clock for the client's deadlines in browsers: timers kept by a dedicated Worker, which
 * background throttling leaves alone. A hidden Chromium tab runs its own timers in 1 s steps at
 * once, and about once a minute after 5 minutes hidden; measured with a 3.5 s lease, another tab was
 * granted 250-500 ms before the old leader's deadline timer fired, and ~57 s before it after the tab
 * had been hidden for 5 minutes. The worker's `setTimeout` is not throttled, and its message to the
 * page is an ordinary task, delivered at once.
 *
 * If the worker cannot start (a Content-Security-Policy without `blob:` in `worker-src`), the timers
 * carry on with the page's own, throttled ones, and the failure is reported (`onFailure`) rather
 * than silently absorbed.
 */
export class WorkerClock implements Clock {
  #worker: WorkerLike | undefined;
  #failure: string | undefined;
  #nextId = 1;
  /** Timers the worker keeps: their callback, and when they fall due (to move them if it fails). */
  readonly #pending = new Map<number, { at: number; callback: () => void }>();
  readonly #failureListeners = new Set<(reason: string) => void>();

  constructor(makeWorker: () => WorkerLike = startTimerWorker) {
    try {
      this.#worker = makeWorker();
    } catch (error) {
      this.#fail(`the timer worker could not be created: ${String(error)}`);
      return;
    }
    this.#worker.listen(
      (id) => this.#fire(id),
      (reason) => this.#fail(`the timer worker failed: ${reason}`),
    );
  }

  now(): number {
    return performance.now();
  }

  wallNow(): number {
    return Date.now();
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    if (this.#worker === undefined) return systemClock.setTimer(delayMs, callback);
    const id = this.#nextId++;
    const delay = Math.max(0, delayMs);
    this.#pending.set(id, { at: this.now() + delay, callback });
    this.#worker.postMessage({ id, delay });
    return {
      cancel: () => {
        if (!this.#pending.delete(id)) return;
        this.#worker?.postMessage({ id });
      },
    };
  }

  /** Why the worker is not running, or undefined while it is. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Calls `listener` once if the worker fails (at once if it already has); returns the undo. */
  onFailure(listener: (reason: string) => void): () => void {
    if (this.#failure !== undefined) {
      listener(this.#failure);
      return () => {};
    }
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  #fire(id: number): void {
    const timer = this.#pending.get(id);
    if (timer === undefined) return; // cancelled while the worker's message was on its way
    this.#pending.delete(id);
    timer.callback();
  }

  /** From now on the page's own timers: late in a hidden tab, but better than never. */
  #fail(reason: string): void {
    if (this.#failure !== undefined) return;
    this.#failure = reason;
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const timer of this.#pending.values()) systemClock.setTimer(timer.at - this.now(), timer.callback);
    this.#pending.clear();
    console.warn(
      `leasehold: ${reason}. Lease deadlines now run on the page's own timers, which a hidden tab delays by up to a minute, ` +
        "so a hidden tab may learn of a loss after another was granted. Allow `worker-src blob:` in the page's Content-Security-Policy.",
    );
    const listeners = [...this.#failureListeners];
    this.#failureListeners.clear();
    for (const listener of listeners) listener(reason);
  }
}

/** A worker that keeps timers: `{ id, delay }` starts one, `{ id }` cancels it; `fired(id)` when one is due. */
export interface WorkerLike {
  postMessage(command: { id: number; delay?: number }): void;
  terminate(): void;
  listen(fired: (id: number) => void, failed: (reason: string) => void): void;
}

/** One worker clock per page, shared by every client on it; undefined where there is no page (Node, workers). */
export function pageClock(): WorkerClock | undefined {
  const scope = globalThis as { document?: unknown; Worker?: unknown };
  if (scope.document === undefined || typeof scope.Worker !== "function") return undefined;
  shared ??= new WorkerClock();
  return shared;
}

let shared: WorkerClock | undefined;

/** The worker's whole program: `{ id, delay }` starts a timer that posts `id` back, `{ id }` cancels it. */
const TIMER_WORKER_SOURCE = `const timers = new Map();
onmessage = (event) => {
  const { id, delay } = event.data;
  if (delay === undefined) {
    clearTimeout(timers.get(id));
    timers.delete(id);
    return;
  }
  timers.set(id, setTimeout(() => { timers.delete(id); postMessage(id); }, delay));
};`;

function startTimerWorker(): WorkerLike {
  // Not revoked: the worker loads it asynchronously, and there is one per page.
  const url = URL.createObjectURL(new Blob([TIMER_WORKER_SOURCE], { type: "text/javascript" }));
  const worker = new Worker(url, { name: "leasehold timers" });
  return {
    postMessage: (command) => worker.postMessage(command),
    terminate: () => worker.terminate(),
    listen(fired, failed) {
      worker.onmessage = (event: MessageEvent<number>) => fired(event.data);
      // Chromium reports a CSP refusal of a blob: worker as an error event, not as an exception.
      worker.onerror = (event) => failed(event.message || "it could not start (a Content-Security-Policy that forbids blob: workers?)");
    },
  };
}
