import { Samples } from "./stats.js";

/**
 * Watches one lock from inside the process that runs all of its clients: counts holders (a grant
 * while another client still holds is a mutual-exclusion violation), checks that fencing tokens
 * grow, and times handoffs.
 *
 * A holder counts as holding from the moment its grant is seen until the moment it *calls*
 * release; a correct server cannot grant the next holder before that release reaches it, so any
 * overlap seen here is a real violation, never an artefact of the measurement.
 */
export class LockMonitor {
  readonly handoff = new Samples();
  /** From the holder's release call (rather than its completion) to the next grant. */
  readonly handoffFromCall = new Samples();
  private holders = 0;
  private lastToken: number | undefined;
  private lastHolder: number | undefined;
  /** The latest release whose next grant has not been seen yet. */
  private pending: Release | undefined;
  exclusionViolations = 0;
  tokenViolations = 0;
  /** Releases that found the lock no longer theirs (expired). */
  lostLocks = 0;
  grants = 0;
  /** Grants that went to a different client than the grant before. */
  handoffsToOther = 0;

  constructor(private readonly checkTokens: boolean) {}

  granted(client: number, token: number | undefined, now: number): void {
    this.holders++;
    if (this.holders > 1) this.exclusionViolations++;
    if (this.checkTokens) {
      if (token === undefined || (this.lastToken !== undefined && token <= this.lastToken)) this.tokenViolations++;
      if (token !== undefined) this.lastToken = token;
    }
    if (this.lastHolder !== undefined && this.lastHolder !== client) this.handoffsToOther++;
    this.lastHolder = client;
    this.grants++;
    const release = this.pending;
    if (release === undefined) return;
    this.pending = undefined;
    release.granted = true;
    this.handoffFromCall.add(now - release.calledAt);
    // The grant reached us before the releasing client heard its own reply: zero wait after "done".
    this.handoff.add(release.doneAt === undefined ? 0 : now - release.doneAt);
  }

  /**
   * The holder calls release now; pass what this returns to `released` when the reply is in. The next
   * grant can be seen before that reply, and the new holder can call release before it is read, so each
   * release is its own object. With one pending state for both, every later grant was timed from the
   * previous holder's reply: the queue-depth row, whose grant and release reply came in one read
   * (grant first) when both waiters shared a connection, counted the new holder's own release round
   * trip as the handoff (0.06-0.10 ms at 10,000 waiters) in place of 0.
   */
  releasing(now: number): Release {
    this.holders--;
    const release: Release = { calledAt: now, doneAt: undefined, granted: false };
    this.pending = release;
    return release;
  }

  released(release: Release, stillOurs: boolean, now: number): void {
    if (!stillOurs) this.lostLocks++;
    if (!release.granted) release.doneAt = now;
  }

  /** Forget a pending release (the measurement window closed, nobody will be granted). */
  reset(): void {
    this.pending = undefined;
  }

  get otherClientShare(): number {
    return this.grants > 1 ? this.handoffsToOther / (this.grants - 1) : Number.NaN;
  }
}

/** One release call, from the call to its reply. */
export interface Release {
  readonly calledAt: number;
  doneAt: number | undefined;
  /** Whether the next grant has been seen (then the reply's time no longer matters). */
  granted: boolean;
}
