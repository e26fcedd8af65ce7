import type { LockMode } from "@leasehold/protocol";
import type { Lock, RequestOptions } from "./locks.js";

export type RequestCallback<T> = (lock: Lock | null) => T | Promise<T>;

/**
 * The arguments of `locks.request`, checked as the Web Locks API checks them and in its order,
 * before anything is queued: first the conversions of its WebIDL signature (a TypeError: a missing
 * name or callback, options that are not an object, an unknown mode, a callback that is not a
 * function), then the request algorithm's refusals (a "NotSupportedError" DOMException), then an
 * aborted signal (its reason). `request(name, callback)` takes the options as `{}`.
 */
export function requestArguments<T>(args: readonly unknown[]): { name: string; options: RequestOptions & { mode: LockMode }; callback: RequestCallback<T> } {
  if (args.length < 2) {
    throw new TypeError(`locks.request takes (name, callback) or (name, options, callback); it was given ${args.length} argument(s)`);
  }
  const name = String(args[0]);
  const given = args.length === 2 ? {} : args[1];
  const callback = args.length === 2 ? args[1] : args[2];
  if (given !== undefined && given !== null && typeof given !== "object") {
    throw new TypeError(`locks.request: options must be an object, not ${typeof given}`);
  }
  const options = (given ?? {}) as RequestOptions;
  const mode = options.mode ?? "exclusive";
  if (mode !== "exclusive" && mode !== "shared") {
    throw new TypeError(`locks.request: "${String(mode)}" is not a lock mode; use "exclusive" or "shared"`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError("locks.request: options.signal must be an AbortSignal");
  }
  if (typeof callback !== "function") {
    throw new TypeError(`locks.request: the callback must be a function, not ${callback === null ? "null" : typeof callback}`);
  }
  if (name.startsWith("-")) {
    throw new DOMException(`locks.request: lock names starting with "-" are reserved, as in the Web Locks API ("${name}")`, "NotSupportedError");
  }
  if (options.steal && options.ifAvailable) throw new DOMException("locks.request: steal and ifAvailable cannot be used together", "NotSupportedError");
  if (options.steal && mode !== "exclusive") throw new DOMException("locks.request: only an exclusive lock can be stolen", "NotSupportedError");
  if (options.signal !== undefined && (options.steal || options.ifAvailable)) {
    throw new DOMException(`locks.request: signal and ${options.steal ? "steal" : "ifAvailable"} cannot be used together`, "NotSupportedError");
  }
  options.signal?.throwIfAborted();
  return { name, options: { ...options, mode }, callback: callback as RequestCallback<T> };
}
