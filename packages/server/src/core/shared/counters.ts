import { ErrorCode } from "@leasehold/protocol";
import type { Account } from "../accounts.js";
import { ServerError } from "../../errors.js";

interface Counter {
  value: number;
  /** The account that made it non-zero, whose counter and byte quotas it counts against until it is 0 again. */
  readonly owner: Account;
}

/**
 * Named integers that change atomically. A counter that was never set reads 0; one that returns to
 * 0 is forgotten, so that names cost nothing once unused. Every value stays a safe integer: a change
 * that would leave the range is refused whole (COUNTER_OVERFLOW) and changes nothing.
 */
export class Counters {
  readonly #counters = new Map<string, Counter>();

  get size(): number {
    return this.#counters.size;
  }

  get(name: string): number {
    return this.#counters.get(name)?.value ?? 0;
  }

  /** Who made the counter non-zero; undefined while it is 0. */
  ownerOf(name: string): Account | undefined {
    return this.#counters.get(name)?.owner;
  }

  /** The value after adding `delta`, without storing it; throws if it leaves the safe range. */
  sum(name: string, delta: number): number {
    const current = this.get(name);
    const next = current + delta;
    if (!Number.isSafeInteger(next)) {
      throw new ServerError(
        ErrorCode.COUNTER_OVERFLOW,
        `counter "${name}" is ${current}; adding ${delta} would leave the safe-integer range (±${Number.MAX_SAFE_INTEGER})`,
      );
    }
    return next;
  }

  /** Sets the value; a counter made non-zero belongs to `owner`, one set to 0 is forgotten. */
  set(name: string, value: number, owner: Account): void {
    const counter = this.#counters.get(name);
    if (value === 0) this.#counters.delete(name);
    else if (counter) counter.value = value;
    else this.#counters.set(name, { value, owner });
  }
}
