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

  it("schedules no reset before half a budget of frames: a client with one request in flight costs no immediate per request", async () => {
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

  it("never lets a socket past its budget in one turn, with frames of earlier turns still counted, and defers it only after more than half of it in the turn", async () => {
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

  it("counts the frames of all sockets towards the reset, and gives each its whole budget again after it", async () => {
    const budget = new TurnBudget();
    const sockets = Array.from({ length: FRAMES_PER_TURN / 2 }, pacedSocket);
    const immediates = vi.spyOn(globalThis, "setImmediate");
    for (const socket of sockets.slice(0, -1)) budget.frame(socket);
    expect(immediates).not.toHaveBeenCalled();
    budget.frame(sockets.at(-1) as object);
    expect(immediates).toHaveBeenCalledTimes(1);
    vi.restoreAllMocks();
    await nextTurn();
    // After the reset each socket has its whole budget again.
    for (const socket of sockets) {
      for (let frame = 1; frame < FRAMES_PER_TURN; frame++) budget.frame(socket);
      expect(socket._receiver._allowSynchronousEvents).toBe(true);
      budget.frame(socket);
      expect(socket._receiver._allowSynchronousEvents).toBe(false);
    }
  });

  it("takes no count left on a socket by another budget for one of its own, and clears its counts at its reset", async () => {
    const first = new TurnBudget();
    const second = new TurnBudget();
    const socket = pacedSocket();
    // The count kept on the socket is tagged with the period it was counted in, unique across budgets.
    for (let frame = 1; frame < FRAMES_PER_TURN; frame++) first.frame(socket);
    for (let frame = 1; frame < FRAMES_PER_TURN; frame++) second.frame(socket);
    expect(socket._receiver._allowSynchronousEvents).toBe(true);
    second.frame(socket);
    expect(socket._receiver._allowSynchronousEvents).toBe(false);
    await nextTurn();
    expect(socket._receiver._allowSynchronousEvents).toBe(true);
    // After the reset the whole budget again, though nothing cleared the count on the socket.
    for (let frame = 1; frame < FRAMES_PER_TURN; frame++) second.frame(socket);
    expect(socket._receiver._allowSynchronousEvents).toBe(true);
    second.frame(socket);
    expect(socket._receiver._allowSynchronousEvents).toBe(false);
    await nextTurn();
  });

  it("gives a link carrying many streams its own budget within a turn", () => {
    const budget = new TurnBudget();
    const link = pacedSocket();
    const linkBudget = FRAMES_PER_TURN * 10;
    for (let frame = 1; frame < linkBudget; frame++) budget.frame(link, linkBudget);
    expect(link._receiver._allowSynchronousEvents).toBe(true);
    budget.frame(link, linkBudget);
    expect(link._receiver._allowSynchronousEvents).toBe(false);
  });
});
