import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { connect, PermissionError, type LeaseholdClient } from "@leasehold/client";
import { CommandFailure, ExitCode } from "./exit-codes.js";

/** The options every client command shares (see `withConnectionOptions`). */
export interface ConnectionOptions {
  url: string[];
  token?: string;
  ca?: string;
  agent: string;
}

const DEFAULT_URL = "ws://127.0.0.1:7070";

/** Adds --url, --token, --ca and --agent, each with its environment variable. */
export function withConnectionOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--url <url>", "server to connect to (repeatable, or comma-separated in LEASEHOLD_URL; tried in order)")
        .env("LEASEHOLD_URL")
        .default([] as string[], DEFAULT_URL)
        .argParser(urlList),
    )
    .addOption(new Option("--token <credential>", "static token or JWT, for servers with authentication on (prefer the variable: arguments show in ps)").env("LEASEHOLD_TOKEN"))
    .addOption(new Option("--ca <file>", "certificate authority to trust for wss:// (PEM)").env("LEASEHOLD_CA"))
    .addOption(new Option("--agent <name>", "how this client is named in the server's logs and dashboard").env("LEASEHOLD_AGENT").default(`leasehold-cli@${process.pid}`, "leasehold-cli@<pid>"));
}

/**
 * Connects to the first of `options.url` that answers. A refused credential ends the attempt at
 * once (77): every server of one deployment would refuse it alike.
 */
export async function connectFrom(options: ConnectionOptions): Promise<LeaseholdClient> {
  const urls = options.url.length > 0 ? options.url : [DEFAULT_URL];
  const ca = options.ca === undefined ? undefined : readCa(options.ca);
  const failures: string[] = [];
  for (const url of urls) {
    try {
      return await connect(url, { auth: options.token, agent: options.agent, ca });
    } catch (error) {
      if (error instanceof PermissionError) throw new CommandFailure(ExitCode.PERMISSION, `${url} refused the credential: ${error.message}; check --token or LEASEHOLD_TOKEN`);
      failures.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new CommandFailure(ExitCode.UNAVAILABLE, `no server could be reached (${failures.join("; ")}); check --url or LEASEHOLD_URL and that the server runs`);
}

/** Connects, runs `work`, and closes the client whatever happens; resolves with `work`'s exit status. */
export async function withClient(options: ConnectionOptions, work: (client: LeaseholdClient) => Promise<number>): Promise<number> {
  const client = await connectFrom(options);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

/**
 * A duration: a number with a unit (`250ms`, `10s`, `2m`, `1h`) or a bare number of seconds, as
 * flock's `-w` takes it. Returns milliseconds.
 */
export function duration(min: number, max: number) {
  return (text: string): number => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
    if (!match) throw new InvalidArgumentError(`"${text}" is not a duration: write 250ms, 10s, 2m, 1h, or a number of seconds`);
    const unit = match[2] ?? "s";
    const ms = Math.round(Number(match[1]) * UNIT_MS[unit as keyof typeof UNIT_MS]);
    if (ms < min || ms > max) throw new InvalidArgumentError(`expected a duration from ${min} ms to ${max} ms, got ${ms} ms`);
    return ms;
  };
}

/** An integer from `min` to `max`. */
export function integer(min: number, max: number) {
  return (text: string): number => {
    const parsed = Number(text);
    if (text.trim() === "" || !Number.isInteger(parsed) || parsed < min || parsed > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return parsed;
  };
}

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

function urlList(value: string, previous: string[] | undefined): string[] {
  const urls = value.split(",").map((part) => part.trim()).filter(Boolean);
  for (const url of urls) {
    if (!/^wss?:\/\//.test(url)) throw new InvalidArgumentError(`"${url}" is not a ws:// or wss:// URL`);
  }
  return [...(previous ?? []), ...urls];
}

function readCa(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new CommandFailure(ExitCode.USAGE, `cannot read --ca ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
