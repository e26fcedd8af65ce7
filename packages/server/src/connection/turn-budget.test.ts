import { afterEach, describe, expect, it, vi } from "vitest";
import { FRAMES_PER_TURN, TurnBudget } from "./turn-budget.js";

/** A socket as the budget sees it: ws's receiver and the flag that defers its next message. */
function pacedSocket(): { _receiver: { _allowSynchronousEvents: boolean } } {
  return { _receiver: { _allowSynchronousEvents: true } };
}

/** Lets the current turn end: the budget's reset, if one was scheduled, runs before this resolves. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("TurnBudget (counting)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("schedules no reset for a socket's frames below half its budget: a client with one request in flight costs no immediate per request", async () => {
    const budget = new TurnBudget();
    const socket = pacedSocket();
    const immediates = vi.spyOn(globalThis, "setImmediate");
    for (let frame = 1; frame < FRAMES_PER_TURN / 2; frame++) budget.frame(socket);
    expect(immediates).not.toHaveBeenCalled();
    budget.frame(socket);
    expect(immediates).toHaveBeenCalledTimes(1);
    vi.restoreAllMocks();
    await nextTurn();
    expect(socket._receiver._allowSynchronousEvents).toBe(true);
  });

  it("never lets a socket past its budget in one turn, with frames of earlier turns still counted, and defers it only after half its budget in the turn", async () => {
    for (let carried = 0; carried < FRAMES_PER_TURN / 2; carried++) {
      const budget = new TurnBudget();
      const socket = pacedSocket();
      for (let frame = 0; frame < carried; frame++) budget.frame(socket);
      await nextTurn();
      let handled = 0;
      while (socket._receiver._allowSynchronousEvents) {
        budget.frame(socket);
        handled++;
      }
      expect(handled).toBe(FRAMES_PER_TURN - carried);
      expect(handled).toBeGreaterThan(FRAMES_PER_TURN / 2);
      await nextTurn();
      expect(socket._receiver._allowSynchronousEvents).toBe(true);
    }
  });

  it("gives a link carrying many streams its own budget, half of which schedules the reset", () => {
    const budget = new TurnBudget();
    const link = pacedSocket();
    const immediates = vi.spyOn(globalThis, "setImmediate");
    const linkBudget = FRAMES_PER_TURN * 10;
    for (let frame = 1; frame < linkBudget / 2; frame++) budget.frame(link, linkBudget);
    expect(immediates).not.toHaveBeenCalled();
    for (let frame = linkBudget / 2; frame < linkBudget; frame++) budget.frame(link, linkBudget);
    expect(link._receiver._allowSynchronousEvents).toBe(true);
    budget.frame(link, linkBudget);
    expect(link._receiver._allowSynchronousEvents).toBe(false);
    expect(immediates).toHaveBeenCalledTimes(1);
  });
});
