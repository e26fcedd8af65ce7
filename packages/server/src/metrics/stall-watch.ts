import type { Logger } from "pino";

/** How often the watch looks at the event loop. */
const TICK_MS = 250;

/**
 * Logs an event-loop stall: a tick that came this much later than asked means nothing ran for that
 * long (a long synchronous task, a slow fsync, swapping), and every session's replies and heartbeats
 * waited with it. The lag itself is a metric (nodejs_eventloop_lag_seconds); this tells the operator
 * when it happened. Returns the function that stops the watch.
 */
export function watchForStalls(logger: Logger, stallMs: number): () => void {
  let expected = performance.now() + TICK_MS;
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - expected;
    if (late > stallMs) logger.warn({ stalledMs: Math.round(late) }, "event loop stalled: nothing ran for that long");
    expected = now + TICK_MS;
  }, TICK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
