/**
 * What a chaos run runs against, behind one interface so that the runner, the nemesis and the checker
 * do not care whether it is one server (`single-node.ts`) or a cluster of gateways over etcd members
 * (`cluster.ts`, `--topology cluster`), which has more members of more kinds.
 */

/** A process of the system under test that the nemesis may kill or pause. */
export interface Member {
  /** For the report and the history: "server", "gateway-1", "etcd-2". */
  readonly name: string;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the killed process again on its own data; resolves once it serves. */
  restart(): Promise<void>;
  /** SIGSTOP. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** What it is in the system when the nemesis hits it (a gateway: "leader" or "follower"), for the report. */
  readonly role?: string;
}

export interface Topology {
  /** What runs, for the report: "one leasehold server, durable (SQLite, --sync full)". */
  readonly description: string;
  /** The URLs a client dials, in order. Workers reach each through a proxy of their own. */
  readonly urls: readonly string[];
  readonly members: readonly Member[];
  /** The member a kill or a pause hits next, drawn with `random`. */
  pick(random: () => number): Member;
  /** Stops every process (resumed first if paused) and removes the data. */
  stop(): Promise<void>;
}
