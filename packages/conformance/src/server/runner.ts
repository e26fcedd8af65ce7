import { RawConnection } from "../wire/connection.js";
import { KitProxy } from "../wire/proxy.js";
import type { ScenarioResult } from "../report.js";
import type { KitContext, Scenario, Session } from "./scenario.js";

export interface RunOptions {
  readonly url: string;
  /** Run only these scenarios (or groups: `locks` matches `locks.*`). */
  readonly only?: readonly string[];
  readonly skip?: readonly string[];
  /** The server was started with the small-limits profile (flags in `SMALL_LIMITS_FLAGS`). */
  readonly smallLimits?: boolean;
  /** Restarts the server on the same URL and resolves once it is back; without it restart scenarios are skipped. */
  readonly restart?: () => Promise<void>;
  readonly scenarioTimeoutMs?: number;
  /** Called after each scenario (the CLI prints progress with it). */
  readonly onResult?: (result: ScenarioResult) => void;
}

/** Runs the selected scenarios one after the other (they share the server's per-address quotas). */
export async function runScenarios(scenarios: readonly Scenario[], options: RunOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios.filter((s) => selected(s.name, options))) {
    const result = await runOne(scenario, options);
    results.push(result);
    options.onResult?.(result);
  }
  return results;
}

function selected(name: string, options: RunOptions): boolean {
  const matches = (pattern: string) => name === pattern || name.startsWith(`${pattern}.`);
  if (options.only && options.only.length > 0 && !options.only.some(matches)) return false;
  return !(options.skip ?? []).some(matches);
}

async function runOne(scenario: Scenario, options: RunOptions): Promise<ScenarioResult> {
  const base = { name: scenario.name, section: scenario.section };
  if (scenario.needs === "small-limits" && !options.smallLimits) return { ...base, status: "skipped", ms: 0, detail: "needs a server started with --profile small-limits flags" };
  if (scenario.needs === "restart" && !options.restart) return { ...base, status: "skipped", ms: 0, detail: "needs --restart-cmd" };
  const cleanups: (() => unknown)[] = [];
  const started = performance.now();
  const timeoutMs = options.scenarioTimeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const kit = await context(options, cleanups);
    await Promise.race([
      scenario.run(kit),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the scenario did not finish within ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return { ...base, status: "passed", ms: Math.round(performance.now() - started) };
  } catch (error) {
    return { ...base, status: "failed", ms: Math.round(performance.now() - started), detail: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()?.();
      } catch {
        // A cleanup that fails (a session already gone) must not hide the scenario's own result.
      }
    }
  }
}

async function context(options: RunOptions, cleanups: (() => unknown)[]): Promise<KitContext> {
  let minTtl = 1_000;
  const raw = async (url = options.url) => {
    const connection = await RawConnection.open(url);
    cleanups.push(() => connection.close());
    return connection;
  };
  const kit: KitContext = {
    url: options.url,
    raw,
    async session({ url, resume, continueFrom } = {}) {
      const connection = await raw(url);
      if (continueFrom) connection.continueIdsFrom(continueFrom);
      connection.send({ op: "hello", version: 1, agent: "leasehold-conformance", ...(resume && { resume }) });
      const { message: welcome } = await connection.next((m) => m.type === "welcome" || m.type === "error", 5_000, "the welcome");
      if (welcome.type !== "welcome") throw new Error(`hello was refused: ${String(welcome.code)} ${String(welcome.message)}`);
      const limits = welcome.limits as { minTtlMs?: number } | undefined;
      if (typeof limits?.minTtlMs === "number") minTtl = limits.minTtlMs;
      const session: Session = {
        connection,
        welcome,
        async bye() {
          if (connection.isClosed) return;
          await connection.call("bye");
          await connection.closes();
        },
      };
      cleanups.push(() => session.bye());
      return session;
    },
    async proxy() {
      const proxy = new KitProxy(new URL(options.url));
      const url = await proxy.start();
      cleanups.push(() => proxy.close());
      return { proxy, url };
    },
    ttl: (ms) => Math.max(minTtl, ms),
    async restart() {
      if (!options.restart) throw new Error("no restart command was given");
      await options.restart();
    },
    defer: (fn) => cleanups.push(fn),
  };
  // Learn the server's minimum TTL once, so that `ttl()` is right before the scenario's first session.
  const probe = await kit.session();
  await probe.bye();
  return kit;
}
