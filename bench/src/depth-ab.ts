import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { resolve } from "node:path";
import { stopAllChildren } from "./infra/children.js";
import { Inspector } from "./infra/inspector.js";
import { startLeasehold } from "./servers/leasehold.js";
import { subject } from "./systems.js";
import { queueDepth } from "./workloads/queue-depth.js";
import { toolArgs } from "./infra/args.js";

/**
 * The queue-depth row (issue 16: grant p50 at 10,000 against 10 waiters), leasehold alone (the full
 * bench also fills etcd's queue, one to three minutes a pass), this checkout's workload against each
 * root's built server, alternating:
 *
 *   node --import tsx bench/src/depth-ab.ts [--roots=/tmp/old-checkout,.] [--depths=10,10000] [--passes=3]
 *     [--warmups=2] [--grants=1000] [--profile-dir=DIR]
 *
 * Each root is a checkout with a built server (`npm run build`). Per pass and root: a fresh
 * `serve --memory` with the bench's flags, `warmups` runs of the row at 10 waiters left out (in the full
 * bench the server has run the uncontended and contended rows first: its code is optimized), then the
 * row at each depth with the full profile's parameters. With `--profile-dir`, V8 CPU profiles of each
 * timed window alone, the server's (through its inspector, on port 9329) and this process's (its
 * clients' work is in the handoff), both cut at the last timed grant. Prints one JSON line per run: grant
 * p50 and p99, p50 from the release call, grants seen before the releaser's reply, server and client CPU
 * per grant (utime + stime from /proc over the timed grants), grants/s and the fill's seconds.
 */

const args = toolArgs();
const roots = (args.get("roots") ?? ".").split(",").map((root) => resolve(root));
const depths = (args.get("depths") ?? "10,10000").split(",").map(Number);
const passes = Number(args.get("passes") ?? 3);
const warmups = Number(args.get("warmups") ?? 2);
const grants = Number(args.get("grants") ?? 1_000);
const profileDir = args.get("profile-dir");
const INSPECTOR_PORT = 9_329;
const ROW = { maxMs: 5_000, connections: 50, settleMaxMs: 30_000, ttlMs: 600_000 };

async function main(): Promise<void> {
  for (let pass = 1; pass <= passes; pass++) {
    const order = pass % 2 === 1 ? roots : [...roots].reverse();
    for (const root of order) await measure(root, pass);
  }
}

async function measure(root: string, pass: number): Promise<void> {
  const nodeFlags = profileDir === undefined ? [] : [`--inspect=127.0.0.1:${INSPECTOR_PORT}`];
  const server = await startLeasehold(root, { kind: "memory" }, 20_000, undefined, nodeFlags);
  const inspector = profileDir === undefined ? undefined : await Inspector.atPort(INSPECTOR_PORT);
  // The harness's own profile: its clients' work is in the handoff the row times.
  const self = new Session();
  if (profileDir !== undefined) self.connect();
  try {
    const target = subject("leasehold", server);
    for (let run = 0; run < warmups; run++) await queueDepth(target, { ...ROW, depth: 10, grants });
    for (const depth of depths) {
      const window = inspector && {
        started: async () => {
          await self.post("Profiler.enable");
          await self.post("Profiler.setSamplingInterval", { interval: 100 });
          await self.post("Profiler.start");
          await inspector.call("Profiler.enable");
          await inspector.call("Profiler.setSamplingInterval", { interval: 100 });
          await inspector.call("Profiler.start");
        },
        ended: async (closedAt: bigint) => {
          const { profile } = (await inspector.call("Profiler.stop")) as { profile: Profile };
          cutAt(profile, Number(closedAt / 1_000n));
          const { profile: own } = (await self.post("Profiler.stop")) as unknown as { profile: Profile };
          cutAt(own, Number(closedAt / 1_000n));
          writeFileSync(resolve(profileDir as string, `client-${depth}-${pass}-${root.replaceAll("/", "_")}.cpuprofile`), JSON.stringify(own));
          writeFileSync(resolve(profileDir as string, `depth-${depth}-${pass}-${root.replaceAll("/", "_")}.cpuprofile`), JSON.stringify(profile));
        },
      };
      const metrics = await queueDepth(target, { ...ROW, depth, grants, ...(window && { window }) });
      const pick = (key: string) => Number(Number(metrics?.[key]).toPrecision(3));
      const line = { pass, root, depth, p50Ms: pick("grantP50Ms"), p99Ms: pick("grantP99Ms"), fromCallP50Ms: pick("fromCallP50Ms"), beforeReply: metrics?.grantsBeforeReply, timed: metrics?.grantsTimed, serverUsPerGrant: pick("serverCpuUsPerOp"), clientUsPerGrant: pick("clientCpuUsPerOp"), grantsPerS: pick("grantsPerS"), fillS: pick("fillS") };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  } finally {
    inspector?.close();
    if (profileDir !== undefined) self.disconnect();
    await server.stop();
  }
}

interface Profile {
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Drops the samples after `microseconds` (the window's end: the waiters' cancels after it are no grant's work). */
function cutAt(profile: Profile, microseconds: number): void {
  let at = profile.startTime;
  for (let index = 0; index < profile.samples.length; index++) {
    at += profile.timeDeltas[index] ?? 0;
    if (at <= microseconds) continue;
    profile.samples.length = profile.timeDeltas.length = index;
    profile.endTime = microseconds;
    return;
  }
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => void stopAllChildren());
