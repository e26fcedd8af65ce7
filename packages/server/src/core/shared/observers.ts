import { ErrorCode, type Clock, type LeaderInfo } from "@leasehold/protocol";
import { ServerError } from "../../errors.js";
import type { LockTable } from "../lock-table.js";
import type { LockEntry, Session } from "../model.js";
import { BackPressure, type BackPressureOptions } from "./back-pressure.js";

/** An observer as the server keeps it: the last leader it was told of, by token (0: vacant or none yet). */
class Observer {
  closed = false;

  constructor(
    readonly group: Observers,
    readonly session: Session,
    readonly id: number,
    readonly name: string,
    public told: number,
    /** Paused while its socket is backed up; it is told the leader as it stands when it resumes. */
    readonly pace: BackPressure,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pace.stop();
    this.group.forget(this);
  }
}

/**
 * Observers of elections. Changes of leadership are collected until the end of the current
 * operation (a resign that hands over to the next campaigner is one change, not a vacancy and a new
 * leader), then each observer is told the leader as it stands. An observer only ever needs the
 * latest state, so one whose socket is backed up is told later rather than buffered for.
 */
export class Observers {
  readonly #byName = new Map<string, Set<Observer>>();
  readonly #dirty = new Set<string>();

  constructor(
    readonly elections: LockTable,
    readonly clock: Clock,
    readonly options: BackPressureOptions,
  ) {}

  /** The current leader of an election, or null when vacant. */
  leader(name: string): LeaderInfo | null {
    return leaderOf(this.elections.get(name));
  }

  /** Opens an observer for request `id` and answers it with the current leader. */
  open(session: Session, id: number, name: string, maxPerSession: number): void {
    if (session.subscriptions.size >= maxPerSession) {
      throw new ServerError(ErrorCode.LIMIT_EXCEEDED, `this session has ${session.subscriptions.size} watches and observers open, the most allowed`);
    }
    const leader = this.leader(name);
    const observer: Observer = new Observer(this, session, id, name, leader?.token ?? 0, new BackPressure(this.clock, this.options, () => this.#tell(observer)));
    let group = this.#byName.get(name);
    if (!group) this.#byName.set(name, (group = new Set()));
    group.add(observer);
    session.addSubscription(id, observer);
    session.reply<"election.observe">(id, { observe: id, leader });
  }

  unobserve(session: Session, id: number): boolean {
    const observer = session.subscriptions.get(id);
    if (!(observer instanceof Observer)) return false;
    observer.close();
    return true;
  }

  /** The holders of a lock-table entry changed; for elections, observers hear of it once the operation is over. */
  changed(entry: LockEntry): void {
    if (entry.kind !== "election" || !this.#byName.has(entry.name)) return;
    if (this.#dirty.size === 0) queueMicrotask(() => this.#flush());
    this.#dirty.add(entry.name);
  }

  forget(observer: Observer): void {
    const group = this.#byName.get(observer.name);
    group?.delete(observer);
    if (group?.size === 0) this.#byName.delete(observer.name);
    observer.session.deleteSubscription(observer.id, observer);
  }

  #flush(): void {
    const names = [...this.#dirty];
    this.#dirty.clear();
    for (const name of names) {
      for (const observer of this.#byName.get(name) ?? []) this.#tell(observer);
    }
  }

  #tell(observer: Observer): void {
    if (observer.closed) return;
    const outlet = observer.session.outlet;
    if (!outlet || !observer.pace.mayPush(outlet)) return;
    const leader = this.leader(observer.name);
    const token = leader?.token ?? 0;
    if (token === observer.told) return;
    observer.told = token;
    observer.session.send({ type: "election.changed", observe: observer.id, leader });
  }
}

function leaderOf(entry: LockEntry | undefined): LeaderInfo | null {
  const hold = entry?.holders.values().next();
  if (!hold || hold.done) return null;
  return { value: hold.value.value ?? null, token: hold.value.token };
}
