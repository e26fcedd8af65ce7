#!/usr/bin/env node
// First, before the other modules load and their start-up grows the young generation: see young-generation.ts.
import "./young-generation.js";
import { Command, InvalidArgumentError, Option } from "commander";
import { pino, type Logger } from "pino";
import pretty from "pino-pretty";
import { readFileSync } from "node:fs";
import { clusterSecretOf } from "./auth/cluster-secret.js";
import { DEFAULT_RELAY_LINKS, RELAY_MODES, startGateway, type RelayMode } from "./cluster/gateway.js";
import type { ServerOptions } from "./options.js";
import type { ReloadReport } from "./reload.js";
import { resolve } from "node:path";
import { dataCommands } from "./commands/backup.js";
import { addClientCommands } from "./commands/index.js";
import { usageErrorsExit64 } from "./commands/run.js";
import { createServer } from "./server.js";
import type { SyncMode } from "./persistence/sqlite-storage.js";

const program = new Command()
  .name("leasehold")
  .description("leasehold: leases, fenced locks and shared state over WebSocket");

program
  .command("serve")
  .description("start a leasehold server")
  .addOption(new Option("--host <host>", "interface to listen on").env("LEASEHOLD_HOST").default("127.0.0.1"))
  .addOption(new Option("--port <port>", "port to listen on (0: any free port)").env("LEASEHOLD_PORT").default(7070).argParser(integer(0, 65_535)))
  .addOption(new Option("--heartbeat <ms>", "longest heartbeat interval").env("LEASEHOLD_HEARTBEAT_MS").argParser(integer(10, 60_000)))
  .addOption(new Option("--session-grace <ms>", "how long a silent session with no longer lease is kept for its client to resume it").env("LEASEHOLD_SESSION_GRACE_MS").argParser(integer(100, 86_400_000)))
  .addOption(new Option("--min-ttl <ms>", "shortest lease TTL accepted").env("LEASEHOLD_MIN_TTL_MS").argParser(integer(10, 86_400_000)))
  .addOption(new Option("--max-frame <bytes>", "largest frame accepted").env("LEASEHOLD_MAX_FRAME_BYTES").argParser(integer(1_024, 16 * 1024 * 1024)))
  .addOption(new Option("--max-sessions <n>", "most live sessions").env("LEASEHOLD_MAX_SESSIONS").argParser(integer(1, 10_000_000)))
  .addOption(new Option("--data <dir>", "data directory (SQLite, created if absent)").env("LEASEHOLD_DATA").default("./data"))
  .addOption(new Option("--memory", "keep everything in memory: nothing survives a restart").env("LEASEHOLD_MEMORY"))
  .addOption(
    new Option("--sync <mode>", "full: every acknowledged change is fsynced (survives power loss); process: survives a killed server, not an OS crash")
      .env("LEASEHOLD_SYNC")
      .choices(["full", "process"])
      .default("full"),
  )
  .addOption(
    new Option("--max-data-bytes <bytes>", "refuse writes that would grow the stored data (logical bytes) past this size; the file may grow to 2x + 64 MiB")
      .env("LEASEHOLD_MAX_DATA_BYTES")
      .argParser(integer(65_536, Number.MAX_SAFE_INTEGER)),
  )
  .addOption(new Option("--log-level <level>", "fatal, error, warn, info, debug").env("LEASEHOLD_LOG_LEVEL").default("info"))
  .addOption(new Option("--log-format <format>", "auto: readable lines on a terminal, JSON lines otherwise").env("LEASEHOLD_LOG_FORMAT").choices(["auto", "json", "pretty"]).default("auto"))
  .addOption(new Option("--metrics-port <port>", "also serve /metrics and the probes on this port, without authentication (0: any free port)").env("LEASEHOLD_METRICS_PORT").argParser(integer(0, 65_535)))
  .addOption(new Option("--metrics-host <host>", "interface of the --metrics-port listener").env("LEASEHOLD_METRICS_HOST").default("127.0.0.1"))
  // Security (README, "Security"). Any of --auth-file, --jwt-secret-file, --jwt-public-key turns authentication on.
  .addOption(new Option("--auth-file <file>", "static tokens with their permissions (JSON); turns authentication on").env("LEASEHOLD_AUTH_FILE"))
  .addOption(new Option("--jwt-secret-file <file>", "accept HS256 JWTs signed with the secret in this file; turns authentication on").env("LEASEHOLD_JWT_SECRET_FILE"))
  .addOption(new Option("--jwt-public-key <file>", "accept RS256/ES256 JWTs signed for this public key (PEM); turns authentication on").env("LEASEHOLD_JWT_PUBLIC_KEY"))
  .addOption(new Option("--jwt-issuer <iss>", "JWTs must carry this iss claim").env("LEASEHOLD_JWT_ISSUER"))
  .addOption(new Option("--jwt-audience <aud>", "JWTs must carry this aud claim").env("LEASEHOLD_JWT_AUDIENCE"))
  .addOption(
    new Option("--allow-origin <origin>", "browser origin allowed to connect (repeatable; * for any)")
      .env("LEASEHOLD_ALLOW_ORIGINS")
      .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), ...value.split(",").map((part) => part.trim()).filter(Boolean)]),
  )
  .addOption(new Option("--tls-cert <file>", "serve wss:// and https:// with this certificate (PEM)").env("LEASEHOLD_TLS_CERT"))
  .addOption(new Option("--tls-key <file>", "the certificate's private key (PEM)").env("LEASEHOLD_TLS_KEY"))
  .addOption(new Option("--handshake-timeout <ms>", "close connections that have not authenticated by then").env("LEASEHOLD_HANDSHAKE_TIMEOUT_MS").argParser(integer(100, 600_000)))
  .addOption(new Option("--max-handshake-bytes <bytes>", "bytes a connection may send before its hello is answered (1009)").env("LEASEHOLD_MAX_HANDSHAKE_BYTES").argParser(integer(1_024, 16 * 1024 * 1024)))
  .addOption(new Option("--max-handshake-frames <n>", "WebSocket frames and fragments a connection may send before its hello is answered (1009)").env("LEASEHOLD_MAX_HANDSHAKE_FRAMES").argParser(integer(1, 1_000_000)))
  .addOption(new Option("--max-connections-per-address <n>", "open connections from one IP address").env("LEASEHOLD_MAX_CONNECTIONS_PER_ADDRESS").argParser(integer(1, 10_000_000)))
  .addOption(new Option("--max-new-connections-per-second <n>", "new connections per second from one IP address (HTTP 429)").env("LEASEHOLD_MAX_NEW_CONNECTIONS_PER_SECOND").argParser(integer(1, 10_000_000)))
  .addOption(new Option("--max-requests-per-second <n>", "sustained requests per session").env("LEASEHOLD_MAX_REQUESTS_PER_SECOND").argParser(integer(1, 10_000_000)))
  .addOption(new Option("--request-burst <n>", "requests per session at once above the rate").env("LEASEHOLD_REQUEST_BURST").argParser(integer(1, 10_000_000)))
  // Per principal (per IP address with auth off); a token file entry's "limits" overrides them for its token.
  .addOption(new Option("--max-ttl <ms>", "longest lease TTL accepted").env("LEASEHOLD_MAX_TTL_MS").argParser(integer(10, 2_147_483_647)))
  .addOption(new Option("--admin-reserved-sessions <n>", "sessions of --max-sessions only admins may open").env("LEASEHOLD_ADMIN_RESERVED_SESSIONS").argParser(integer(1, 10_000_000)))
  .addOption(new Option("--max-sessions-per-principal <n>", "sessions one principal holds, detached ones included").env("LEASEHOLD_MAX_SESSIONS_PER_PRINCIPAL").argParser(integer(1, 10_000_000)))
  .addOption(new Option("--max-leases-per-principal <n>", "live leases of one principal").env("LEASEHOLD_MAX_LEASES_PER_PRINCIPAL").argParser(integer(1, 100_000_000)))
  .addOption(new Option("--max-keys-per-principal <n>", "keys one principal owns").env("LEASEHOLD_MAX_KEYS_PER_PRINCIPAL").argParser(integer(1, 100_000_000)))
  .addOption(new Option("--max-counters-per-principal <n>", "non-zero counters one principal created").env("LEASEHOLD_MAX_COUNTERS_PER_PRINCIPAL").argParser(integer(1, 100_000_000)))
  .addOption(
    new Option("--max-bytes-per-principal <bytes>", "logical bytes one principal stores (keys and values, counters, election values)")
      .env("LEASEHOLD_MAX_BYTES_PER_PRINCIPAL")
      .argParser(integer(1_024, Number.MAX_SAFE_INTEGER)),
  )
  .addOption(new Option("--lock-delay <ms>", "how long a lock lost rather than released (lease expired, admin revoke) stays ungrantable, unless its acquire says").env("LEASEHOLD_LOCK_DELAY_MS").argParser(integer(0, 86_400_000)))
  .addOption(new Option("--max-backlog <bytes>", "unsent bytes before a slow reader is cut off (4006)").env("LEASEHOLD_MAX_BACKLOG_BYTES").argParser(integer(65_536, 1024 * 1024 * 1024)))
  // A cluster on etcd (README, "Running a cluster").
  .addOption(new Option("--etcd <urls>", "run as a gateway of a cluster whose state is in etcd at these client URLs (comma-separated); --data is then unused").env("LEASEHOLD_ETCD"))
  .addOption(new Option("--cluster-secret-file <file>", "a secret shared by every gateway: followers prove themselves to the leader with it and pass clients' real addresses").env("LEASEHOLD_CLUSTER_SECRET_FILE"))
  .addOption(new Option("--advertise <url>", "the URL other gateways reach this one at (default ws://host:port as it listens)").env("LEASEHOLD_ADVERTISE"))
  .addOption(new Option("--etcd-prefix <prefix>", "where in etcd the cluster keeps its keys").env("LEASEHOLD_ETCD_PREFIX").default("/leasehold/"))
  .addOption(new Option("--etcd-writes-in-flight <n>", "the leader's group commits in flight to etcd at once: their round trips overlap; more than 1 was slower on a 2-core machine (BENCHMARKS.md §8)").env("LEASEHOLD_ETCD_WRITES_IN_FLIGHT").default(1).argParser(integer(1, 16)))
  .addOption(
    new Option("--relay-mode <mode>", "how a follower carries clients to the leader: one upstream connection per client, or multiplexed over a few links (needs --cluster-secret-file)")
      .env("LEASEHOLD_RELAY_MODE")
      .choices(RELAY_MODES)
      .default("per-client"),
  )
  .addOption(new Option("--relay-links <n>", "links a multiplexing follower keeps to the leader").env("LEASEHOLD_RELAY_LINKS").default(DEFAULT_RELAY_LINKS).argParser(integer(1, 64)))
  .addOption(new Option("--election-ttl <s>", "TTL of the leader's election lease: a failover takes about this long (etcd's minimum: 1.5 election timeouts)").env("LEASEHOLD_ELECTION_TTL").default(2).argParser(integer(1, 60)))
  .action(async (options: ServeOptions) => {
    const readable = options.logFormat === "pretty" || (options.logFormat === "auto" && process.stdout.isTTY);
    // pino-pretty as a stream in this thread (not a transport's worker): lines come out in order with the rest, and nothing is lost at exit.
    const logger = pino(
      { level: options.logLevel, redact: { paths: ["*.auth", "token", "*.token", "credential"], censor: "[redacted]" } },
      readable ? pretty({ colorize: process.stdout.isTTY, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", sync: true }) : undefined,
    );
    if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) throw new Error("--tls-cert and --tls-key go together");
    const jwtFiles =
      options.jwtSecretFile !== undefined || options.jwtPublicKey !== undefined
        ? { secretFile: options.jwtSecretFile, publicKeyFile: options.jwtPublicKey, issuer: options.jwtIssuer, audience: options.jwtAudience }
        : undefined;
    // commander turns a flag on whenever its variable is set, whatever the value: LEASEHOLD_MEMORY=0
    // would silently throw away durability.
    const memoryEnv = process.env.LEASEHOLD_MEMORY;
    if (memoryEnv !== undefined && !["1", "true"].includes(memoryEnv.toLowerCase())) {
      throw new Error(`LEASEHOLD_MEMORY=${memoryEnv} is not understood: set it to 1 or true for in-memory mode, or unset it to keep state in --data`);
    }
    const dataDir = options.memory ? null : options.data;
    const serverOptions: ServerOptions = {
      dataDir,
      maxDataBytes: options.maxDataBytes,
      sync: options.sync,
      host: options.host,
      port: options.port,
      heartbeatMs: options.heartbeat,
      sessionGraceMs: options.sessionGrace,
      limits: {
        ...(options.minTtl !== undefined && { minTtlMs: options.minTtl }),
        ...(options.maxFrame !== undefined && { maxFrameBytes: options.maxFrame }),
        ...(options.maxSessions !== undefined && { maxSessions: options.maxSessions }),
        ...(options.maxConnectionsPerAddress !== undefined && { maxConnectionsPerAddress: options.maxConnectionsPerAddress }),
        ...(options.maxRequestsPerSecond !== undefined && { maxRequestsPerSecond: options.maxRequestsPerSecond }),
        ...(options.requestBurst !== undefined && { requestBurst: options.requestBurst }),
        ...(options.maxTtl !== undefined && { maxTtlMs: options.maxTtl }),
        ...(options.adminReservedSessions !== undefined && { adminReservedSessions: options.adminReservedSessions }),
        ...(options.maxSessionsPerPrincipal !== undefined && { maxSessionsPerPrincipal: options.maxSessionsPerPrincipal }),
        ...(options.maxLeasesPerPrincipal !== undefined && { maxLeasesPerPrincipal: options.maxLeasesPerPrincipal }),
        ...(options.maxKeysPerPrincipal !== undefined && { maxKeysPerPrincipal: options.maxKeysPerPrincipal }),
        ...(options.maxCountersPerPrincipal !== undefined && { maxCountersPerPrincipal: options.maxCountersPerPrincipal }),
        ...(options.maxBytesPerPrincipal !== undefined && { maxBytesPerPrincipal: options.maxBytesPerPrincipal }),
        ...(options.maxBacklog !== undefined && { maxBacklogBytes: options.maxBacklog }),
      },
      handshakeTimeoutMs: options.handshakeTimeout,
      maxHandshakeBytes: options.maxHandshakeBytes,
      maxHandshakeFrames: options.maxHandshakeFrames,
      maxNewConnectionsPerSecond: options.maxNewConnectionsPerSecond,
      // Given as files, so that SIGHUP can read them again.
      auth: options.authFile !== undefined || jwtFiles ? { tokensFile: options.authFile, jwtFiles } : undefined,
      allowOrigins: options.allowOrigin,
      tls: options.tlsCert !== undefined && options.tlsKey !== undefined ? { certFile: options.tlsCert, keyFile: options.tlsKey } : undefined,
      lockDelayMs: options.lockDelay,
      logger,
      metricsPort: options.metricsPort,
      metricsHost: options.metricsHost,
    };
    if (options.etcd !== undefined) {
      await serveGateway(options, serverOptions, logger);
      return;
    }
    const server = await createServer(serverOptions);
    const storage = !dataDir
      ? "in memory: nothing survives a restart"
      : options.sync === "process"
        ? `data in ${resolve(dataDir)} (sync process: a power loss or OS crash can lose the last acknowledged changes)`
        : `data in ${resolve(dataDir)}`;
    const security = server.security;
    const auth = security.auth === "off" ? "auth off: any client may connect and use admin operations" : `auth ${security.auth}`;
    logger.info(
      { url: server.url, auth: security.auth, origins: security.origins, dataDir: dataDir && resolve(dataDir), metricsUrl: server.metricsUrl },
      `leasehold listening on ${server.url}, ${storage} (${auth}; browser origins: ${security.origins})${server.metricsUrl ? `; metrics and probes without auth on ${server.metricsUrl}/metrics` : ""}`,
    );
    void server.failed.then((error) => {
      logger.fatal(`leasehold stopped: ${error.message}`);
      process.exit(1);
    });
    stopOnSignals(logger, () => server.close());
    reloadOnSighup(logger, () => server.reload());
  });

/** `serve --etcd`: one gateway of a cluster (cluster/gateway.ts); stops on SIGINT/SIGTERM. */
async function serveGateway(options: ServeOptions, serverOptions: ServerOptions, logger: Logger): Promise<void> {
  if (options.memory) throw new Error("--memory and --etcd exclude each other: a cluster keeps its state in etcd");
  const endpoints = (options.etcd ?? "").split(",").map((url) => url.trim()).filter((url) => url !== "");
  if (endpoints.length === 0) throw new Error("--etcd needs at least one etcd client URL, such as http://127.0.0.1:2379");
  const clusterSecret = options.clusterSecretFile === undefined ? undefined : clusterSecretOf(readFileSync(options.clusterSecretFile, "utf8"));
  const gateway = await startGateway({
    endpoints,
    prefix: options.etcdPrefix,
    electionTtlSeconds: options.electionTtl,
    writesInFlight: options.etcdWritesInFlight,
    advertise: options.advertise,
    relayMode: options.relayMode,
    relayLinks: options.relayLinks,
    server: { ...serverOptions, dataDir: null, clusterSecret },
  });
  logger.info(
    { url: gateway.url, advertise: gateway.advertise, etcd: endpoints },
    `leasehold gateway listening on ${gateway.url} (advertised as ${gateway.advertise}), state in etcd at ${endpoints.join(", ")}${clusterSecret ? "" : "; no --cluster-secret-file: the leader counts relayed clients under their follower's address"}`,
  );
  stopOnSignals(logger, () => gateway.close());
  reloadOnSighup(logger, () => gateway.reload());
}

/**
 * Rotating secrets on SIGHUP: a reload that fails (a file half-written, a key that does not match)
 * changes nothing and is only logged; the process never exits over it (without a handler, SIGHUP
 * would end it).
 */
function reloadOnSighup(logger: Logger, reload: () => ReloadReport): void {
  process.on("SIGHUP", () => {
    try {
      const report = reload();
      const closed = report.closed.length === 0 ? "" : `; ${report.closed.length} session${report.closed.length === 1 ? "" : "s"} closed (token removed)`;
      logger.info({ signal: "SIGHUP", auth: report.auth, tls: report.tls, closed: report.closed.length }, `secrets reloaded: auth ${report.auth}${report.tls ? ", TLS certificate" : ""}${closed}`);
    } catch (error) {
      logger.error({ signal: "SIGHUP", err: error }, `reload failed, the previous secrets stay in use: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
}

/** SIGINT and SIGTERM close cleanly once (a second signal while closing changes nothing), then exit 0, or 1 if closing failed. */
function stopOnSignals(logger: Logger, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

interface ServeOptions {
  etcd?: string;
  clusterSecretFile?: string;
  relayMode: RelayMode;
  relayLinks: number;
  advertise?: string;
  etcdPrefix: string;
  electionTtl: number;
  etcdWritesInFlight: number;
  host: string;
  port: number;
  heartbeat?: number;
  sessionGrace?: number;
  minTtl?: number;
  maxFrame?: number;
  maxSessions?: number;
  data: string;
  memory?: boolean;
  maxDataBytes?: number;
  sync: SyncMode;
  logLevel: string;
  logFormat: "auto" | "json" | "pretty";
  metricsPort?: number;
  metricsHost: string;
  authFile?: string;
  jwtSecretFile?: string;
  jwtPublicKey?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  allowOrigin?: string[];
  tlsCert?: string;
  tlsKey?: string;
  handshakeTimeout?: number;
  maxHandshakeBytes?: number;
  maxHandshakeFrames?: number;
  maxConnectionsPerAddress?: number;
  maxNewConnectionsPerSecond?: number;
  maxRequestsPerSecond?: number;
  requestBurst?: number;
  maxTtl?: number;
  adminReservedSessions?: number;
  maxSessionsPerPrincipal?: number;
  maxLeasesPerPrincipal?: number;
  maxKeysPerPrincipal?: number;
  maxCountersPerPrincipal?: number;
  maxBytesPerPrincipal?: number;
  maxBacklog?: number;
  lockDelay?: number;
}

addClientCommands(program);
for (const command of dataCommands()) program.addCommand(usageErrorsExit64(command));

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
