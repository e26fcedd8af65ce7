/** A server process the harness started: where to reach it, which pid to measure, how to stop it. */
export interface RunningServer {
  /** "redis", "etcd" or "leasehold". */
  readonly kind: ServerKind;
  /** What a client dials: redis://, http:// (etcd) or ws:// (leasehold). */
  readonly url: string;
  readonly pid: number;
  /** Free text for the report, e.g. "leasehold --memory". */
  readonly description: string;
  stop(): Promise<void>;
}

export type ServerKind = "redis" | "etcd" | "leasehold";
