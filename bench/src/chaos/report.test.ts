import { describe, expect, it } from "vitest";
import { checkHistory } from "./checker.js";
import type { HistoryEvent } from "./history.js";
import { formatSummary, summarize } from "./report.js";

const RUN = { minutes: 1, topology: "a cluster", workers: 2, locks: 1, ttlMs: 1_000, seed: 1, historyDir: "/tmp/x" };

describe("summarize", () => {
  it("counts faults by kind and by what they hit: a gateway with its role, an etcd member, a worker", () => {
    const events: HistoryEvent[] = [
      { type: "phase", name: "workload", at: 0, ttlMs: 1_000 },
      ...fault(1, "kill-member", "gateway-2", 10, "leader"),
      ...fault(2, "pause-member", "gateway-1", 20, "leader"),
      ...fault(3, "kill-member", "etcd-3", 30),
      ...fault(4, "pause-member", "gateway-3", 40, "follower"),
      ...fault(5, "kill-member", "gateway-1", 50, "leader"),
      ...fault(6, "cut-worker", "w12", 60),
      ...fault(7, "kill-member", "server", 70),
    ];
    const summary = summarize(RUN, checkHistory(events, { ttlMs: 1_000 }), events);
    expect(summary.faultTargets).toEqual({
      "cut-worker worker": 1,
      "kill-member etcd": 1,
      "kill-member gateway (leader)": 2,
      "kill-member server": 1,
      "pause-member gateway (follower)": 1,
      "pause-member gateway (leader)": 1,
    });
    expect(summary.faults["kill-member"]).toBe(4);
    expect(formatSummary(summary)).toContain("faults by target: cut-worker worker 1, kill-member etcd 1, kill-member gateway (leader) 2,");
  });
});

function fault(id: number, kind: "kill-member" | "pause-member" | "cut-worker", target: string, at: number, role?: string): HistoryEvent[] {
  return [
    { type: "fault", phase: "start", fault: id, kind, target, ...(role !== undefined && { role }), at },
    { type: "fault", phase: "heal", fault: id, kind, target, at: at + 5 },
  ];
}
