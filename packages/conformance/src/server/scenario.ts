import { RawConnection } from "../wire/connection.js";
import type { WireMap } from "../wire/codec.js";
import { KitProxy } from "../wire/proxy.js";

/**
 * One server scenario: a name (`group.what`), the PROTOCOL.md section it checks, and what it needs
 * beyond a plain server: the small-limits profile (`--profile small-limits`) or a restart command.
 * `run` throws (an `Error` whose message says what the server did wrong) to fail.
 */
export interface Scenario {
  readonly name: string;
  readonly section: string;
  readonly needs?: "small-limits" | "restart";
  run(kit: KitContext): Promise<void>;
}

/** What a scenario gets: connections, a proxy, timing that fits the server's limits, cleanup. */
export interface KitContext {
  readonly url: string;
  /** Opens a connection, sends `hello` and returns it with its `welcome`. */
  session(options?: { url?: string; resume?: { session: string; secret: string }; continueFrom?: RawConnection }): Promise<Session>;
  /** Opens a raw connection and sends nothing. */
  raw(url?: string): Promise<RawConnection>;
  /** A TCP proxy in front of the server, closed after the scenario. */
  proxy(): Promise<{ proxy: KitProxy; url: string }>;
  /** A TTL that the server accepts and that keeps scenarios short: `max(minTtlMs, ms)`. */
  ttl(ms: number): number;
  /** Restarts the server (`--restart-cmd`); only for scenarios that need "restart". */
  restart(): Promise<void>;
  /** Runs `fn` after the scenario, pass or fail. */
  defer(fn: () => unknown): void;
}

export interface Session {
  readonly connection: RawConnection;
  readonly welcome: WireMap;
  /** Ends the session cleanly (`bye`), so that it holds nothing when the next scenario starts. */
  bye(): Promise<void>;
}

/** Fails the scenario with `message` unless `condition` holds. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Fails unless `actual` deep-equals `expected` (msgpack values: no undefined, no functions). */
export function checkEqual(actual: unknown, expected: unknown, what: string): void {
  const a = canonical(actual);
  const b = canonical(expected);
  check(a === b, `${what}: expected ${b}, got ${a}`);
}

/** Fails unless the answer is an `error` with `code` (and, when given, the request's `id`). */
export function checkError(answer: WireMap, code: string, what: string): void {
  check(answer.type === "error", `${what}: expected an error ${code}, got ${JSON.stringify(answer)}`);
  check(answer.code === code, `${what}: expected the error code ${code}, got ${String(answer.code)} (${String(answer.message)})`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner) && !(inner instanceof Uint8Array)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : inner instanceof Uint8Array
        ? { bin: Buffer.from(inner).toString("hex") }
        : inner,
  );
}
