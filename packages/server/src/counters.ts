import { ErrorCode } from "@leasehold/protocol";
import { ServerError } from "./errors.js";

/**
 * Named integers that change atomically. A counter that was never set reads 0; one that returns to
 * 0 is forgotten, so that names cost nothing once unused. Every value stays a safe integer: a change
 * that would leave the range is refused whole (COUNTER_OVERFLOW) and changes nothing.
 */
export class Counters {
  readonly #values = new Map<string, number>();

  get size(): number {
    return this.#values.size;
  }

  get(name: string): number {
    return this.#values.get(name) ?? 0;
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

  set(name: string, value: number): void {
    if (value === 0) this.#values.delete(name);
    else this.#values.set(name, value);
  }
}
