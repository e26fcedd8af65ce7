import { DEFAULT_LIMITS, FakeClock, type ServerMessage } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { Account } from "../accounts.js";
import { Session } from "../model.js";
import { Watches } from "./watches.js";

function setup(historyEvents = 100) {
  const clock = new FakeClock();
  const sent: ServerMessage[] = [];
  const session = new Session("s", "secret", 0, "test", undefined, new Account("test", DEFAULT_LIMITS), undefined, 0);
  const outlet = { address: "test", bufferedAmount: 0, send: (message: ServerMessage) => void sent.push(message), close: () => {} };
  session.outlet = outlet;
  const watches = new Watches({ history: { events: historyEvents, bytes: 1_000_000 }, pauseBytes: 1_000, retryMs: 25 }, clock);
  let revision = 0;
  const publish = (key: string) => {
    revision++;
    watches.publish(key, revision, revision, 10);
    return revision;
  };
  const revisions = () => sent.flatMap((message) => (message.type === "watch.events" ? message.events.map((event) => event.revision) : []));
  return { clock, sent, session, outlet, watches, publish, revisions, current: () => revision };
}

describe("Watches", () => {
  it("answers first, replays from fromRevision, then sends live changes under the prefix", () => {
    const { sent, session, watches, publish, revisions, current } = setup();
    publish("a:1");
    publish("b:1");
    publish("a:2");
    watches.open(session, 7, "a:", 2, current(), 10);
    expect(sent[0]).toEqual({ type: "reply", id: 7, result: { watch: 7, revision: 3 } });
    publish("a:3");
    publish("b:2");
    expect(revisions()).toEqual([3, 4]);
  });

  it("pauses while the socket is backed up and catches up from the history once it drains", () => {
    const { clock, session, outlet, watches, publish, revisions, current } = setup();
    watches.open(session, 1, "", undefined, current(), 10);
    publish("k");
    outlet.bufferedAmount = 5_000;
    publish("k");
    publish("k");
    expect(revisions()).toEqual([1]);
    outlet.bufferedAmount = 0;
    clock.advance(25);
    expect(revisions()).toEqual([1, 2, 3]);
    publish("k");
    expect(revisions()).toEqual([1, 2, 3, 4]);
  });

  it("drops a paused watcher with WATCH_OVERFLOW once the changes it needs are evicted", () => {
    const { clock, sent, session, outlet, watches, publish, current } = setup(3);
    watches.open(session, 1, "", undefined, current(), 10);
    outlet.bufferedAmount = 5_000;
    for (let index = 0; index < 5; index++) publish("k");
    clock.advance(25);
    expect(sent.at(-1)).toMatchObject({ type: "watch.closed", watch: 1, code: "WATCH_OVERFLOW" });
    expect(watches.size).toBe(0);
    expect(session.subscriptions.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("refuses a fromRevision that is compacted away or ahead of the server", () => {
    const { session, watches, publish, current } = setup(2);
    for (let index = 0; index < 5; index++) publish("k");
    expect(() => watches.open(session, 1, "", 2, current(), 10)).toThrow(expect.objectContaining({ code: "COMPACTED" }));
    expect(() => watches.open(session, 2, "", current() + 2, current(), 10)).toThrow(expect.objectContaining({ code: "OUT_OF_RANGE" }));
    expect(() => watches.open(session, 3, "", 4, current(), 10)).not.toThrow();
    expect(() => watches.open(session, 4, "", undefined, current(), 1)).toThrow(expect.objectContaining({ code: "LIMIT_EXCEEDED" }));
  });
});
