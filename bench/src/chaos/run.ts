import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { killAllChildrenNow, stopAllChildren } from "../infra/children.js";
import { removeAllTempDirs } from "../servers/tempdir.js";
import { checkHistory } from "./checker.js";
import { HistoryWriter, readHistory, sharedNow } from "./history.js";
import { lockNames } from "./names.js";
import { seededRandom } from "../../../test/support/seeded-random.js";
import { Nemesis } from "./nemesis.js";
import { StateReader } from "./reader.js";
import { formatSummary, summarize, type RunFacts } from "./report.js";
import { startCluster } from "./topology/cluster.js";
import { startSingleNode } from "./topology/single-node.js";
import type { Topology } from "./topology/topology.js";
import { ChaosWorker } from "./workers.js";

/**
 * `npm run chaos -- --minutes N`: the nemesis run of issue 12 (guarantee 6). Starts the system under
 * test (`--topology single`: one durable server; `--topology cluster`: 3 etcd members and 3 gateways),
 * workers that take locks and write under them through proxies of this process, and a nemesis that
 * kills, pauses and cuts for N minutes;
 * then checks the merged history (checker.ts) and exits 1 on any violation, 2 if the run itself failed.
 * `--check <dir>` checks the history of an earlier run again.
 *
 * Options: --topology single, --workers 5, --locks 3, --ttl (ms; 1000 single, 2000 cluster), --seed <n>
 * (the fault schedule), --out <dir>.
 */

const repoRoot = resolve(fileURLToPath(import.meta.url), "../../../..");
const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "1" },
    workers: { type: "string", default: "5" },
    locks: { type: "string", default: "3" },
    topology: { type: "string", default: "single" },
    ttl: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    check: { type: "string" },
  },
});

/**
 * The clients' lease TTL when --ttl is not given. A cluster's failover (the leader killed or paused)
 * takes the election TTL (1 s) plus the new leader's load of the log from etcd and the clients'
 * reconnects before a lock can be granted again; the checker wants a lock held again within TTL + 1 s
 * of a heal. At a load of 18, 5 minutes at 1000 ms (seed 2029) had one failover held again 3.9 s after
 * its heal (RELIABILITY.md); 5 minutes at 2000 ms (seed 2028) passed.
 */
const DEFAULT_TTL_MS = { single: 1_000, cluster: 2_000 } as const;

// Declared before the top-level await below, which runs the whole run (and may shut down on failure).
let shuttingDown = false;
const log = (line: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
process.on("SIGINT", () => void shutDown("interrupted", 130));
process.on("SIGTERM", () => void shutDown("terminated", 143));
// Whatever happens, no server or worker outlives the run.
process.on("exit", killAllChildrenNow);

try {
  if (values.check !== undefined) process.exit(checkAgain(values.check));
  process.exit(await run());
} catch (error) {
  log(`the run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  await shutDown("failed", 2);
}

async function run(): Promise<number> {
  const topologyName = values.topology;
  if (topologyName !== "single" && topologyName !== "cluster") throw new Error(`--topology must be single or cluster, not ${JSON.stringify(topologyName)}`);
  const facts = {
    minutes: positive("minutes"),
    workers: Math.round(positive("workers")),
    locks: Math.round(positive("locks")),
    ttlMs: values.ttl === undefined ? DEFAULT_TTL_MS[topologyName] : Math.round(positive("ttl")),
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed),
  };
  const historyDir = values.out ?? mkdtempSync(join(tmpdir(), "leasehold-chaos-"));
  mkdirSync(historyDir, { recursive: true });
  const history = new HistoryWriter(join(historyDir, "runner.jsonl"));
  const locks = lockNames(facts.locks);

  log(`starting the ${topologyName === "single" ? "server" : "cluster"}, then ${facts.workers} workers; history in ${historyDir}`);
  const topology: Topology = topologyName === "single" ? await startSingleNode(repoRoot) : await startCluster(repoRoot);
  // Every worker knows every URL, each starting on another one: clients spread over a cluster's gateways.
  const urlsOf = (index: number) => topology.urls.map((_, at) => topology.urls[(index + at) % topology.urls.length]!);
  const workers = await Promise.all(
    Array.from({ length: facts.workers }, (_, index) => ChaosWorker.start(`w${index + 1}`, { repoRoot, urls: urlsOf(index), locks, ttlMs: facts.ttlMs, historyDir })),
  );
  const reader = new StateReader(topology.urls, locks, history);
  history.write({ type: "phase", name: "workload", at: sharedNow(), ttlMs: facts.ttlMs });
  const nemesis = new Nemesis(topology, workers, facts.ttlMs, history, seededRandom(facts.seed), () => reader.read(30_000));
  log(`faults for ${facts.minutes} min (seed ${facts.seed})`);
  await nemesis.run(sharedNow() + facts.minutes * 60_000);

  history.write({ type: "phase", name: "stopping", at: sharedNow(), ttlMs: facts.ttlMs });
  const crashed = workers.filter((worker) => !worker.alive);
  log("stopping the workers, reading the final state");
  await Promise.all(workers.map((worker) => worker.stop()));
  await reader.read(30_000);
  await topology.stop();
  history.close();
  for (const worker of crashed) log(`worker ${worker.name} died during the run; its last output:\n${worker.output.join("\n")}`);

  const events = readHistory(historyDir);
  const result = checkHistory(events, { ttlMs: facts.ttlMs });
  const summary = summarize({ ...facts, topology: topology.description, historyDir } satisfies RunFacts, result, events);
  writeFileSync(join(historyDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  process.stderr.write(`${formatSummary(summary)}\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (crashed.length > 0) return 2;
  return summary.passed ? 0 : 1;
}

/** Checks a finished run's history again (after a change to the checker, say). */
function checkAgain(dir: string): number {
  const events = readHistory(dir);
  const phase = events.find((event) => event.type === "phase");
  if (!phase || phase.type !== "phase") throw new Error(`${dir} holds no chaos history (no runner.jsonl with a phase line)`);
  const result = checkHistory(events, { ttlMs: phase.ttlMs });
  const summary = summarize({ minutes: 0, topology: "(checked again)", workers: 0, locks: 0, ttlMs: phase.ttlMs, seed: 0, historyDir: dir }, result, events);
  process.stderr.write(`${formatSummary(summary)}\n`);
  return summary.passed ? 0 : 1;
}

function positive(name: "minutes" | "workers" | "locks" | "ttl"): number {
  const value = Number(values[name]);
  if (!(value > 0)) throw new Error(`--${name} must be a positive number, not ${JSON.stringify(values[name])}`);
  return value;
}

async function shutDown(reason: string, exitCode: number): Promise<never> {
  if (!shuttingDown) {
    shuttingDown = true;
    log(`${reason}: stopping every process the run started`);
    await Promise.race([stopAllChildren(), new Promise((resolve) => setTimeout(resolve, 15_000))]);
    removeAllTempDirs();
  }
  process.exit(exitCode);
}
