import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { ScenarioFailure, withTimeout } from "./verdict.js";
import type { WireMap } from "../wire/codec.js";

/** A driver's answer to one command (CONFORMANCE.md, "Client mode"). */
export type Answer = { ok: WireMap; at: number } | { error: { code: string; message: string }; at: number };

/** Something the application saw on its own: a lease or lock lost, with the code of its reason. */
export interface DriverEvent {
  event: string;
  of: string;
  code: string;
  at: number;
}

/** A command sent; `answered` settles when the driver answers it (never rejects). */
export interface Sent {
  id: string;
  answered: Promise<Answer>;
}

/**
 * The implementer's driver as a child process: commands go to its stdin as JSON lines, answers and
 * events come back on its stdout as JSON lines. Lines that are not JSON objects are kept as its log.
 */
export class Driver {
  readonly events: DriverEvent[] = [];
  readonly log: string[] = [];
  #stderr = "";
  #nextId = 1;
  readonly #pending = new Map<string, (answer: Answer) => void>();
  readonly #eventWaiters = new Set<() => void>();
  #exit: { code: number | null; signal: string | null } | undefined;
  readonly exited: Promise<void>;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdin.on("error", () => {});
    child.stderr.on("data", (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-4_000)));
    createInterface({ input: child.stdout }).on("line", (line) => this.#take(line));
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        for (const wake of this.#eventWaiters) wake();
        resolve();
      }),
    );
  }

  /** Starts `command` through the shell, in a process group of its own so that `stop` ends all of it. */
  static start(command: string, env: NodeJS.ProcessEnv = {}): Driver {
    const child = spawn(command, { shell: true, detached: true, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...env } });
    return new Driver(child);
  }

  /** Sends a command; the driver answers it with the same `id`. */
  send(what: string, fields: WireMap = {}): Sent {
    const id = `${what}-${this.#nextId++}`;
    const answered = new Promise<Answer>((resolve) => this.#pending.set(id, resolve));
    if (this.#exit === undefined) this.child.stdin.write(`${JSON.stringify({ id, do: what, ...fields })}\n`);
    return { id, answered };
  }

  /** Waits for the answer to `sent`; a failure if none comes in time or it is an error. */
  async ok(sent: Sent, timeoutMs: number, what: string): Promise<WireMap> {
    const answer = await this.answer(sent, timeoutMs, what);
    if ("error" in answer) throw new ScenarioFailure(`${what}: the application got an error ${answer.error.code} (${answer.error.message})`);
    return answer.ok;
  }

  async answer(sent: Sent, timeoutMs: number, what: string): Promise<Answer> {
    return withTimeout(
      Promise.race([sent.answered, this.exited.then((): never => {
        throw this.#diedFailure(what);
      })]),
      timeoutMs,
      `${what}: the driver did not answer command "${sent.id}" within ${timeoutMs} ms`,
    );
  }

  /** The first event matching `match`, waiting up to `timeoutMs` for it. */
  async event(match: (event: DriverEvent) => boolean, timeoutMs: number, what: string): Promise<DriverEvent> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found !== undefined) return found;
      if (this.#exit !== undefined) throw this.#diedFailure(what);
      const left = until - performance.now();
      if (left <= 0) throw new ScenarioFailure(`expected the driver to report ${what} within ${timeoutMs} ms; it reported ${this.#describeEvents()}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#eventWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#eventWaiters.add(wake);
      });
    }
  }

  /** Closes the driver's stdin (its cue to exit); kills its process group if it has not exited within `graceMs`. */
  async stop(graceMs = 2_000): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.#kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.#kill(); // what the driver itself started, if anything outlived it
  }

  #kill(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
  }

  #diedFailure(what: string): ScenarioFailure {
    const how = this.#exit?.signal ?? `code ${String(this.#exit?.code)}`;
    return new ScenarioFailure(`${what}: the driver exited (${how}); its stderr ends with: ${this.#stderr.trim().slice(-600) || "(nothing)"}`);
  }

  #describeEvents(): string {
    return this.events.length === 0 ? "nothing" : this.events.map((event) => `${event.event} of ${event.of} (${event.code})`).join(", ");
  }

  #take(line: string): void {
    const at = performance.now();
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      message = undefined;
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      this.log.push(line);
      return;
    }
    const fields = message as WireMap;
    if (typeof fields.id === "string" && this.#pending.has(fields.id)) {
      const resolve = this.#pending.get(fields.id);
      this.#pending.delete(fields.id);
      resolve?.(toAnswer(fields, at));
    } else if (typeof fields.event === "string") {
      this.events.push({ event: fields.event, of: String(fields.of), code: String(fields.code), at });
      for (const wake of this.#eventWaiters) wake();
    } else {
      this.log.push(line);
    }
  }
}

function toAnswer(fields: WireMap, at: number): Answer {
  const error = fields.error;
  if (typeof error === "object" && error !== null) {
    const { code, message } = error as WireMap;
    return { error: { code: String(code), message: String(message ?? "") }, at };
  }
  const ok = fields.ok;
  return { ok: typeof ok === "object" && ok !== null ? (ok as WireMap) : {}, at };
}
