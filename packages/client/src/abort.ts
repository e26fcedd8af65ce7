/**
 * Runs `callback` when `signal` aborts, until the returned function is called.
 *
 * Many waits often share one signal (a worker's shutdown signal, say). An EventTarget scans all of
 * its listeners on every add and remove, so one listener per wait made each acquire cost grow with
 * the number of waits on the signal (10,000 queued acquires: milliseconds per grant). Here each
 * signal gets one listener, and the waits on it are a Set.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = waitsBySignal.get(signal);
  if (callbacks === undefined) {
    const forThisSignal = new Set<() => void>();
    callbacks = forThisSignal;
    waitsBySignal.set(signal, forThisSignal);
    signal.addEventListener(
      "abort",
      () => {
        waitsBySignal.delete(signal);
        for (const waiting of forThisSignal) waiting();
        forThisSignal.clear();
      },
      { once: true },
    );
  }
  const registered = callbacks;
  registered.add(callback);
  return () => registered.delete(callback);
}

const waitsBySignal = new WeakMap<AbortSignal, Set<() => void>>();
