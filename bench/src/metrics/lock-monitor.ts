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
  private releaseCalledAt: number | undefined;
  private releaseDoneAt: number | undefined;
  private grantBeforeReleaseDone = false;
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
    if (this.releaseCalledAt !== undefined) {
      this.handoffFromCall.add(now - this.releaseCalledAt);
      this.releaseCalledAt = undefined;
      if (this.releaseDoneAt !== undefined) {
        this.handoff.add(now - this.releaseDoneAt);
        this.releaseDoneAt = undefined;
      } else {
        // The grant reached us before the releasing client heard its own reply: zero wait after "done".
        this.grantBeforeReleaseDone = true;
      }
    }
  }

  releasing(now: number): void {
    this.holders--;
    this.releaseCalledAt = now;
    this.releaseDoneAt = undefined;
    this.grantBeforeReleaseDone = false;
  }

  released(stillOurs: boolean, now: number): void {
    if (!stillOurs) this.lostLocks++;
    if (this.grantBeforeReleaseDone) {
      this.handoff.add(0);
      this.grantBeforeReleaseDone = false;
    } else if (this.releaseCalledAt !== undefined) {
      this.releaseDoneAt = now;
    }
  }

  /** Forget a pending release (the measurement window closed, nobody will be granted). */
  reset(): void {
    this.releaseCalledAt = undefined;
    this.releaseDoneAt = undefined;
    this.grantBeforeReleaseDone = false;
  }

  get otherClientShare(): number {
    return this.grants > 1 ? this.handoffsToOther / (this.grants - 1) : Number.NaN;
  }
}
