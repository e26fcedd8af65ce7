import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { onAbort } from "./abort.js";

describe("onAbort", () => {
  it("calls back every wait still registered when the signal aborts, and only those", () => {
    const controller = new AbortController();
    const called: string[] = [];
    onAbort(controller.signal, () => called.push("a"));
    const stopB = onAbort(controller.signal, () => called.push("b"));
    onAbort(controller.signal, () => called.push("c"));
    stopB();
    controller.abort();
    expect(called).toEqual(["a", "c"]);
  });

  it("puts one listener on a signal however many waits share it", () => {
    const controller = new AbortController();
    const stops = Array.from({ length: 1_000 }, () => onAbort(controller.signal, () => {}));
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    for (const stop of stops) stop();
    // No wait left: no listener left either (it would keep an AbortSignal.timeout() or any() alive).
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    let late = false;
    onAbort(controller.signal, () => (late = true));
    controller.abort();
    expect(late).toBe(true);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("registers afresh on a new signal after an abort", () => {
    const first = new AbortController();
    const second = new AbortController();
    let count = 0;
    onAbort(first.signal, () => count++);
    first.abort();
    onAbort(second.signal, () => count++);
    second.abort();
    expect(count).toBe(2);
  });
});
