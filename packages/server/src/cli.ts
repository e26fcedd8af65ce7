#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from "commander";
import { pino } from "pino";
import { resolve } from "node:path";
import { createServer } from "./server.js";

const program = new Command()
  .name("leasehold")
  .description("leasehold: leases, fenced locks and shared state over WebSocket");

program
  .command("serve")
  .description("start a leasehold server")
  .addOption(new Option("--host <host>", "interface to listen on").env("LEASEHOLD_HOST").default("127.0.0.1"))
  .addOption(new Option("--port <port>", "port to listen on (0: any free port)").env("LEASEHOLD_PORT").default(7070).argParser(integer(0, 65_535)))
  .addOption(new Option("--heartbeat <ms>", "longest heartbeat interval").env("LEASEHOLD_HEARTBEAT_MS").argParser(integer(10, 60_000)))
  .addOption(new Option("--min-ttl <ms>", "shortest lease TTL accepted").env("LEASEHOLD_MIN_TTL_MS").argParser(integer(10, 86_400_000)))
  .addOption(new Option("--max-frame <bytes>", "largest frame accepted").env("LEASEHOLD_MAX_FRAME_BYTES").argParser(integer(1_024, 16 * 1024 * 1024)))
  .addOption(new Option("--max-sessions <n>", "most live sessions").env("LEASEHOLD_MAX_SESSIONS").argParser(integer(1, 10_000_000)))
  .addOption(new Option("--data <dir>", "data directory (SQLite, created if absent)").env("LEASEHOLD_DATA").default("./data"))
  .addOption(new Option("--memory", "keep everything in memory: nothing survives a restart").env("LEASEHOLD_MEMORY"))
  .addOption(new Option("--max-data-bytes <bytes>", "refuse to grow the database past this size").env("LEASEHOLD_MAX_DATA_BYTES").argParser(integer(65_536, Number.MAX_SAFE_INTEGER)))
  .addOption(new Option("--log-level <level>", "fatal, error, warn, info, debug").env("LEASEHOLD_LOG_LEVEL").default("info"))
  .action(async (options: ServeOptions) => {
    const logger = pino({ level: options.logLevel });
    const dataDir = options.memory ? null : options.data;
    const server = await createServer({
      dataDir,
      maxDataBytes: options.maxDataBytes,
      host: options.host,
      port: options.port,
      heartbeatMs: options.heartbeat,
      limits: {
        ...(options.minTtl !== undefined && { minTtlMs: options.minTtl }),
        ...(options.maxFrame !== undefined && { maxFrameBytes: options.maxFrame }),
        ...(options.maxSessions !== undefined && { maxSessions: options.maxSessions }),
      },
      logger,
    });
    const storage = dataDir ? `data in ${resolve(dataDir)}` : "in memory: nothing survives a restart";
    logger.info({ url: server.url, auth: "off", dataDir: dataDir && resolve(dataDir) }, `leasehold listening on ${server.url}, ${storage} (auth off: any client may connect)`);
    void server.failed.then((error) => {
      logger.fatal(`leasehold stopped: ${error.message}`);
      process.exit(1);
    });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "shutting down");
      server.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });

interface ServeOptions {
  host: string;
  port: number;
  heartbeat?: number;
  minTtl?: number;
  maxFrame?: number;
  maxSessions?: number;
  data: string;
  memory?: boolean;
  maxDataBytes?: number;
  logLevel: string;
}

program.parseAsync().catch((error: unknown) => {
  console.error(`leasehold: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

function integer(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return parsed;
  };
}
