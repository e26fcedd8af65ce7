/**
 * Runs `callback` when `signal` aborts, until the returned function is called.
 *
 * Many waits often share one signal (a worker's shutdown signal, say). An EventTarget scans all of
 * its listeners on every add and remove, so one listener per wait made each acquire cost grow with
 * the number of waits on the signal (10,000 queued acquires: milliseconds per grant). Here each
 * signal gets one listener while any wait is registered on it, and the waits on it are a Set. The
 * listener goes when the last wait does: `AbortSignal.timeout()` and `AbortSignal.any()` signals stay
 * alive as long as they have listeners.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let waits = waitsBySignal.get(signal);
  if (waits === undefined) {
    const created: Waits = { callbacks: new Set(), listener: () => {} };
    created.listener = () => {
      waitsBySignal.delete(signal);
      for (const waiting of created.callbacks) waiting();
      created.callbacks.clear();
    };
    waits = created;
    waitsBySignal.set(signal, created);
    signal.addEventListener("abort", created.listener, { once: true });
  }
  const registered = waits;
  registered.callbacks.add(callback);
  return () => {
    if (!registered.callbacks.delete(callback) || registered.callbacks.size > 0) return;
    signal.removeEventListener("abort", registered.listener);
    if (waitsBySignal.get(signal) === registered) waitsBySignal.delete(signal);
  };
}

interface Waits {
  readonly callbacks: Set<() => void>;
  listener: () => void;
}

const waitsBySignal = new WeakMap<AbortSignal, Waits>();
