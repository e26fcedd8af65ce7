import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/**
 * The history of a chaos run: what each process asked for and what it got, as JSON lines, one file per
 * process, merged for the checker. Every time is on one basis shared by all processes of the machine
 * (`sharedNow`), so that a worker's grant can be compared with another worker's deadline.
 */

/** An operation as invoked. Keys, counters and locks are named after the lock they belong to. */
export type Invocation =
  | { readonly op: "acquire"; readonly lock: string }
  | { readonly op: "put"; readonly lock: string; readonly key: string; readonly token: number; readonly value: string }
  | { readonly op: "incr"; readonly counter: string }
  | { readonly op: "release"; readonly lock: string; readonly token: number }
  | { readonly op: "read"; readonly counters: readonly string[]; readonly keys: readonly string[] };

/** What an operation answered. A grant's deadline is in the `hold` event written right after it. */
export type Outcome =
  | { readonly op: "acquire"; readonly token: number }
  | { readonly op: "put"; readonly revision: number }
  | { readonly op: "incr"; readonly value: number }
  | { readonly op: "release" }
  | { readonly op: "read"; readonly counters: Readonly<Record<string, number>>; readonly keys: Readonly<Record<string, StoredEntry | null>> };

export interface StoredEntry {
  readonly value: string;
  readonly revision: number;
}

/** The kinds of fault the nemesis injects. */
export const FAULT_KINDS = ["kill-member", "pause-member", "pause-worker", "cut-worker", "blackhole-worker"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type HistoryEvent =
  | { readonly type: "invoke"; readonly process: string; readonly id: number; readonly at: number; readonly call: Invocation }
  | { readonly type: "ok"; readonly process: string; readonly id: number; readonly at: number; readonly result: Outcome }
  /** `code`: the error code the client gave (see `INDETERMINATE_CODES`), or UNEXPECTED for anything else. */
  | { readonly type: "fail"; readonly process: string; readonly id: number; readonly at: number; readonly code: string; readonly message?: string }
  /**
   * A holder looked at its lock (the acquire `id`): `held` as the client said at `at`, and the client's
   * deadline for the lease then. Deadlines only move later while the lease lives, so a holder that saw
   * `held` believes it holds at least until `deadline`, paused or not.
   */
  | { readonly type: "hold"; readonly process: string; readonly id: number; readonly at: number; readonly held: boolean; readonly deadline: number }
  /** `role`: what the target was when hit (a gateway: "leader" or "follower"), when the topology says. */
  | { readonly type: "fault"; readonly phase: "start" | "heal"; readonly fault: number; readonly kind: FaultKind; readonly target: string; readonly role?: string; readonly at: number }
  /** The run's own milestones: `workload` when the workers run, `stopping` when they are told to stop. */
  | { readonly type: "phase"; readonly name: "workload" | "stopping"; readonly at: number; readonly ttlMs: number };

/** Now, in ms since the Unix epoch, on the monotonic clock of this process: the same basis in every process. */
export function sharedNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A monotonic time of this process (`performance.now()`, the client's clock) on the shared basis. */
export function toShared(monotonicMs: number): number {
  return performance.timeOrigin + monotonicMs;
}

/**
 * Appends events to one process's history file with a synchronous write each, so that every event
 * written is on disk even if the process is killed right after (a few µs per event: the workers
 * write a few hundred per second).
 */
export class HistoryWriter {
  readonly #fd: number;

  constructor(path: string) {
    this.#fd = openSync(path, "a");
  }

  write(event: HistoryEvent): void {
    writeSync(this.#fd, `${JSON.stringify(event)}\n`);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** Every event of every `*.jsonl` file in `dir`, merged by time. */
export function readHistory(dir: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const file of readdirSync(dir).filter((name) => name.endsWith(".jsonl")).sort()) {
    for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
      // A process killed mid-write leaves at most a torn last line.
      if (line.trim() === "") continue;
      try {
        events.push(JSON.parse(line) as HistoryEvent);
      } catch {
        continue;
      }
    }
  }
  return events.sort((a, b) => a.at - b.at);
}
