import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { RawConnection } from "../wire/connection.js";
import { SMALL_LIMITS_FLAGS } from "./profile.js";
import { jsonReport, junitReport, progressLine, summaryLine } from "../report.js";
import { runScenarios } from "./runner.js";
import { serverScenarios } from "./scenarios/index.js";

const USAGE = `usage: leasehold-conformance server --url ws://host:port [--only a,b] [--skip c] [--json] [--junit file]
                                    [--restart-cmd "..."] [--profile small-limits] [--list]

  --only, --skip   scenario names or groups (handshake, frames, leases, locks, ...), comma separated
  --json           print the results as JSON instead of the human summary
  --junit FILE     also write JUnit XML to FILE
  --restart-cmd    a shell command that restarts the server on the same URL and exits; enables restart.*
  --profile small-limits
                   the server was started with the small-limits flags; enables limits.*:
                   ${SMALL_LIMITS_FLAGS.join(" ")}
  --list           list the scenarios and the PROTOCOL.md section each checks`;

/** `leasehold-conformance server ...`: the exit status is 0 when every selected scenario passed, 1 otherwise, 2 on bad usage. */
export async function runServerConformance(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: "string" },
        only: { type: "string" },
        skip: { type: "string" },
        json: { type: "boolean" },
        junit: { type: "string" },
        "restart-cmd": { type: "string" },
        profile: { type: "string" },
        list: { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) return (process.stdout.write(`${USAGE}\n`), 0);
  if (values.list) {
    for (const scenario of serverScenarios) process.stdout.write(`${scenario.name.padEnd(40)} §${scenario.section}${scenario.needs ? ` [needs ${scenario.needs}]` : ""}\n`);
    return 0;
  }
  if (!values.url) return (process.stderr.write(`--url is required: the server's WebSocket URL, ws://host:port\n${USAGE}\n`), 2);
  if (values.profile !== undefined && values.profile !== "small-limits") return (process.stderr.write(`unknown --profile ${values.profile}: the one profile is small-limits\n`), 2);
  const url = values.url;
  const restartCmd = values["restart-cmd"];
  const results = await runScenarios(serverScenarios, {
    url,
    only: list(values.only),
    skip: list(values.skip),
    smallLimits: values.profile === "small-limits",
    ...(restartCmd !== undefined && { restart: () => restartServer(restartCmd, url) }),
    onResult: values.json ? undefined : (result) => process.stdout.write(`${progressLine(result)}\n`),
  });
  if (values.junit) await writeFile(values.junit, junitReport("server", results));
  process.stdout.write(values.json ? `${jsonReport("server", { url }, results)}\n` : `${summaryLine(results)}\n`);
  return results.some((r) => r.status === "failed") || results.length === 0 ? 1 : 0;
}

function list(value: string | undefined): string[] | undefined {
  return value?.split(",").map((part) => part.trim()).filter((part) => part.length > 0);
}

/** Runs the restart command to its end, then waits until the server accepts WebSockets again (at most 30 s). */
async function restartServer(command: string, url: string): Promise<void> {
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject).on("exit", resolve);
  });
  if (code !== 0) throw new Error(`the restart command exited with ${String(code)}: ${command}`);
  const deadline = performance.now() + 30_000;
  for (;;) {
    try {
      (await RawConnection.open(url, 1_000)).close();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw new Error(`the server did not come back at ${url} within 30 s of the restart: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
