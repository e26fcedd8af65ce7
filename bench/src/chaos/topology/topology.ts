/**
 * What a chaos run runs against, behind one interface so that the runner, the nemesis and the checker
 * do not care whether it is one server or a cluster: `single-node.ts` now; a cluster of gateways over
 * etcd members (`--cluster`) implements the same interface with more members of more kinds.
 */

/** A process of the system under test that the nemesis may kill or pause. */
export interface Member {
  /** For the report and the history: "server", later "gateway-1", "etcd-2". */
  readonly name: string;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the killed process again on its own data; resolves once it serves. */
  restart(): Promise<void>;
  /** SIGSTOP. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export interface Topology {
  /** What runs, for the report: "one leasehold server, durable (SQLite, --sync full)". */
  readonly description: string;
  /** The URLs a client dials, in order. Workers reach each through a proxy of their own. */
  readonly urls: readonly string[];
  readonly members: readonly Member[];
  /** Stops every process (resumed first if paused) and removes the data. */
  stop(): Promise<void>;
}
