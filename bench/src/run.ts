import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBinaries } from "./infra/binaries.js";
import { killAllChildrenNow, stopAllChildren } from "./infra/children.js";
import { machineFacts } from "./infra/machine.js";
import { ALL_WORKLOADS, CLUSTER_LABELS, DURABLE_LABELS, Plan } from "./plan.js";
import { FULL, QUICK, type Profile } from "./profile.js";
import { removeAllTempDirs } from "./servers/tempdir.js";
import { renderMarkdown } from "./report/markdown.js";
import { evaluateTargets, mixedLabel, sessionsLabel } from "./report/targets.js";
import { aggregate, writeJsonLines, type WorkloadId } from "./results.js";

/**
 * `npm run bench [-- --quick] [--only=workload,...] [--cluster-sessions=N]`: starts Redis, etcd and leasehold, runs every workload
 * against each, stops everything it started, and writes BENCHMARKS.md plus raw JSON lines.
 */

const repoRoot = resolve(fileURLToPath(import.meta.url), "../../..");
const args = process.argv.slice(2);
const profile = withClusterSessions(args.includes("--quick") ? QUICK : FULL, args);
const only = parseOnly(args);
const startedAt = new Date();
const loadAtStart = loadavg()[0] ?? Number.NaN;
const started = performance.now();

function log(line: string): void {
  process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
}

let shuttingDown = false;
async function shutDown(reason: string, exitCode: number): Promise<never> {
  if (!shuttingDown) {
    shuttingDown = true;
    log(`${reason}: stopping every process the benchmark started`);
    await Promise.race([stopAllChildren(), new Promise((resolve) => setTimeout(resolve, 15_000))]);
    removeAllTempDirs();
  }
  process.exit(exitCode);
}

process.on("SIGINT", () => void shutDown("interrupted", 130));
process.on("SIGTERM", () => void shutDown("terminated", 143));
// Whatever happens, no server outlives the harness.
process.on("exit", killAllChildrenNow);
const unhandled: string[] = [];
process.on("unhandledRejection", (reason) => {
  // Client libraries sometimes reject a background promise while a server shuts down; keep going, but say so.
  const text = reason instanceof Error ? reason.message : String(reason);
  if (unhandled.length < 5) unhandled.push(text.split("\n")[0] ?? text);
});
const watchdog = setTimeout(() => void shutDown(`the run exceeded its ${profile.watchdogMs / 1000} s limit`, 1), profile.watchdogMs);

async function main(): Promise<void> {
  ensureBinaries(log);
  const machine = machineFacts();
  log(`profile ${profile.name}; ${machine.cpuModel}, ${machine.cores} cores; node ${machine.node}; ${machine.redis}; ${machine.etcd}`);
  const plan = new Plan(profile, repoRoot, log);
  const result = await plan.run(only);
  await stopAllChildren();
  removeAllTempDirs();

  const aggregates = aggregate(result.rows);
  const redisLevels = new Set(result.rows.filter((row) => row.workload === "sessions" && row.system === "redis" && row.skipped === undefined).map((row) => row.variant));
  const commonLevels = profile.sessions.levels.map(sessionsLabel).filter((label) => redisLevels.has(label));
  // leasehold's highest session level, where the holders' count of lost locks is recorded.
  const largeSessions = () => {
    const levels = aggregates.filter((entry) => entry.workload === "sessions" && entry.system === "leasehold" && entry.metrics.sessionsOpen !== undefined);
    const top = levels.sort((a, b) => (b.metrics.sessionsOpen ?? 0) - (a.metrics.sessionsOpen ?? 0))[0];
    return top === undefined ? undefined : { label: top.variant, lost: top.metrics.lostLocks, asked: profile.sessions.leaseholdLevel };
  };
  const targets = evaluateTargets({
    aggregates,
    uncontendedClients: profile.uncontended.clients,
    contendedVariant: `${profile.contended.clients} clients`,
    queueDepths: profile.queueDepth.depths,
    sessionsVariants: commonLevels,
    durableLabels: DURABLE_LABELS,
    largeSessions: largeSessions(),
    clusterLabels: CLUSTER_LABELS,
    electionTtlS: profile.cluster.electionTtlS,
    mixedVariant: mixedLabel(profile.mixed),
  });
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const resultsFile = resolve(repoRoot, "bench/results", `${stamp}${profile.name === "quick" ? "-quick" : ""}.jsonl`);
  const command = commandLine();
  const durationS = (performance.now() - started) / 1000;
  const notes = [...result.notes, ...unhandled.map((text) => `a client library reported in the background: ${text}`)];
  writeJsonLines(resultsFile, { startedAt: startedAt.toISOString(), profile, command, machine, servers: result.servers, notes }, result.rows);
  const markdown = renderMarkdown({
    profile,
    command,
    startedAt,
    durationS,
    machine,
    servers: result.servers,
    aggregates,
    targets,
    layout: result.layout,
    notes,
    resultsFile: relative(repoRoot, resultsFile),
    load: { start: loadAtStart, end: loadavg()[0] ?? Number.NaN },
  });
  // Only a full run of every workload replaces the committed report; a quick or partial run (CI's
  // smoke test, a developer's check) writes its report beside its raw results.
  const complete = profile.name === "full" && only.size === ALL_WORKLOADS.length;
  const reportFile = complete ? resolve(repoRoot, "BENCHMARKS.md") : resultsFile.replace(/\.jsonl$/, ".md");
  writeFileSync(reportFile, complete ? markdown + handWrittenTail(reportFile) : markdown);
  log(`wrote ${relative(repoRoot, reportFile)} and ${relative(repoRoot, resultsFile)}`);
  for (const target of targets) log(`target ${target.status.padEnd(12)} ${target.target}: ${target.measured} (goal ${target.goal})`);
}

/**
 * The profiles' summaries and the levers' A/B figures (issue 16) are written by people, under this
 * heading at the end of BENCHMARKS.md: a full run replaces the generated part above it and keeps them.
 */
const HAND_WRITTEN_HEADING = "## Where the time goes";

function handWrittenTail(reportFile: string): string {
  if (!existsSync(reportFile)) return "";
  const previous = readFileSync(reportFile, "utf8");
  const start = previous.indexOf(`\n${HAND_WRITTEN_HEADING}\n`);
  return start === -1 ? "" : previous.slice(start);
}

/** `--cluster-sessions=N`: the cluster-sessions row at N sessions instead of the profile's (a smaller run while investigating). */
function withClusterSessions(chosen: Profile, argv: string[]): Profile {
  const flag = argv.find((arg) => arg.startsWith("--cluster-sessions="));
  if (flag === undefined) return chosen;
  const sessions = Number(flag.slice("--cluster-sessions=".length));
  if (!Number.isInteger(sessions) || sessions < 1) throw new Error(`--cluster-sessions needs a whole number of sessions, not ${flag}`);
  return { ...chosen, clusterSessions: { ...chosen.clusterSessions, sessions } };
}

function parseOnly(argv: string[]): ReadonlySet<WorkloadId> {
  const flag = argv.find((arg) => arg.startsWith("--only="));
  if (flag === undefined) return new Set(ALL_WORKLOADS);
  const wanted = flag.slice("--only=".length).split(",");
  const unknown = wanted.filter((name) => !(ALL_WORKLOADS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`unknown workload(s) ${unknown.join(", ")}; known: ${ALL_WORKLOADS.join(", ")}`);
  return new Set(wanted as WorkloadId[]);
}

function commandLine(): string {
  if (process.env.npm_lifecycle_event === "bench") return `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`;
  return `node --expose-gc --import tsx bench/src/run.ts${args.length > 0 ? ` ${args.join(" ")}` : ""}`;
}

main().then(
  () => {
    clearTimeout(watchdog);
    log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // Client libraries may keep timers (keep-alives, reconnects) around; everything we started is stopped.
    process.exit(0);
  },
  (error: unknown) => void shutDown(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, 1),
);
