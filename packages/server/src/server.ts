import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { CloseCode, useEnglishErrorMessages } from "@leasehold/protocol";
import { WebSocketServer } from "ws";
import { CommitPipeline, afterThisTurnsReads } from "./persistence/commit.js";
import { forwardedPeer, provesGateway } from "./auth/cluster-secret.js";
import { LeaderLink } from "./cluster/leader-link.js";
import { LINK_HEAD_BYTES, LINK_HEADER, LINK_VERSION } from "./cluster/link-envelope.js";
import type { LinkStream } from "./cluster/link-stream.js";
import { Connection, type ConnectionHost } from "./connection/connection.js";
import { Heartbeats } from "./connection/heartbeat.js";
import { TurnBudget } from "./connection/turn-budget.js";
import { Coordinator } from "./core/coordinator.js";
import { createOperationsHandler, readiness, type OperationsHost } from "./http/probes.js";
import { SECURITY_HEADERS } from "./http/security-headers.js";
import { createHttpHandler, defaultBundlePath, defaultPageScriptsPath, type OperationsHandler } from "./http/routes.js";
import { Metrics } from "./metrics/metrics.js";
import { watchForStalls } from "./metrics/stall-watch.js";
import { resolveOptions, type ServerOptions } from "./options.js";
import { BackgroundSyncSqliteStorage } from "./persistence/background-sync-sqlite-storage.js";
import { fsyncInFromEnvironment } from "./persistence/fsync-placement.js";
import { physicalDataLimit } from "./persistence/sqlite-storage.js";
import { RefusalHolds } from "./connection/refusal-hold.js";
import { admitUpgrade, destroyOnTimeout, dropIfIdle, handshakeDeadlines, refuseAfterUpgrade, refuseBadRequest, refuseConnection, refuseMalformedUpgrade, refuseRequest, refuseUpgrade, remoteIp } from "./connection/upgrade.js";
import { Authenticator } from "./auth/authenticator.js";
import { Guard } from "./auth/guard.js";
import { Right } from "./auth/permissions.js";
import type { Session } from "./core/model.js";
import { OriginPolicy } from "./auth/origin.js";
import { restore } from "./persistence/restore.js";
import { AddressQuota, AddressRate } from "./auth/quota.js";
import { readCertificate, reloadSecrets, type ReloadReport } from "./reload.js";
import { HandedOverError, MemoryStorage, type Storage } from "./persistence/storage.js";
import { TimedStorage } from "./persistence/timed-storage.js";

export interface LeaseholdServer {
  /** Where clients connect: `ws://host:port`, or `wss://host:port` with TLS. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The separate metrics listener (`http://host:port`), when `metricsPort` was given. */
  readonly metricsUrl: string | undefined;
  /** The rules engine, for in-process inspection (tests, dashboards). */
  readonly coordinator: Coordinator;
  /** What protects the server, for its startup line: authentication ("off", or "on: ...") and the browser origins allowed. */
  readonly security: { auth: string; origins: string; tls: boolean };
  /** Whether acknowledged changes survive a restart (a data directory or a durable storage was given). */
  readonly durable: boolean;
  /**
   * Resolves with the error if storage fails while running (disk full, I/O error). The server has
   * then stopped acknowledging anything and closed every connection; restart it on the same data.
   */
  readonly failed: Promise<Error>;
  /**
   * Reads the secrets given as files again (the token file, the JWT key files, the TLS certificate
   * and key) and uses them for every new connection and handshake; a connected session whose static
   * token was removed gets UNAUTHENTICATED and close 4003, the others take their token's current
   * rights. Throws if any file cannot be read or checked, and then nothing changed. The CLI calls it
   * on SIGHUP.
   */
  reload(): ReloadReport;
  /**
   * Stops serving at once, as a storage failure does, but as a hand-over: nothing more is
   * acknowledged, every connection is closed with 1012 (reconnect and resume elsewhere) and `failed`
   * resolves. A cluster leader calls it when its election is lost. Call `close()` after it.
   */
  stepDown(reason: string): void;
  /**
   * Stops accepting, commits what is pending, tells every client the server is restarting (close
   * code 1012: reconnect and resume), and resolves when done.
   */
  close(): Promise<void>;
}

/**
 * Starts a server. Storage: `dataDir` (a directory, created if absent) keeps everything in SQLite;
 * without it (or with `dataDir: null`) the server keeps its state in memory only.
 */
export async function createServer(options: ServerOptions = {}): Promise<LeaseholdServer> {
  useEnglishErrorMessages();
  const resolved = resolveOptions(options);
  const certificate = options.tls && readCertificate(options.tls);
  const logger = resolved.logger;
  const connections = new Set<Connection>();
  let coordinator!: Coordinator;
  let openSockets = 0;
  const metrics = new Metrics({
    coordinator: () => coordinator,
    connections: () => openSockets,
    databaseBytes: () => storage.sizeBytes(),
  });
  const slowCommitMs = options.slowCommitMs ?? 250;
  const storage = new TimedStorage(
    options.storage ?? (options.dataDir ? new BackgroundSyncSqliteStorage(options.dataDir, { maxBytes: options.maxDataBytes === undefined ? undefined : physicalDataLimit(options.maxDataBytes), sync: options.sync, fsyncIn: fsyncInFromEnvironment() }) : new MemoryStorage()),
    (seconds, ok) => {
      metrics.committed(seconds, ok);
      if (seconds * 1_000 > slowCommitMs) logger?.warn({ commitMs: Math.round(seconds * 1_000), ok }, `slow commit: over ${slowCommitMs} ms`);
    },
  );
  let reportFailure!: (error: Error) => void;
  const failed = new Promise<Error>((resolve) => (reportFailure = resolve));
  const commits = new CommitPipeline(
    storage,
    () => ({ revision: coordinator.revision, nextLeaseId: coordinator.nextLeaseId }),
    (error) => {
      if (error instanceof HandedOverError) {
        // Another server took over the data (a new cluster leader): clients resume there.
        logger?.warn({ err: error }, "stopped serving: another server took over");
        for (const connection of connections) connection.close(CloseCode.SERVICE_RESTART, "not the leader any more: reconnect and resume");
      } else {
        logger?.fatal({ err: error }, "storage failed; no further change can be acknowledged");
        for (const connection of connections) connection.close(CloseCode.INTERNAL_ERROR, "storage failure");
      }
      reportFailure(error);
    },
    afterThisTurnsReads,
    options.authority,
    resolved.clock,
  );
  const guard = new Guard(new Authenticator(options.auth), resolved.limits, resolved.clock);
  // The admin feed stops for a session whose admin right a reload took away.
  const access = { mayAdminister: (session: Session) => guard.mayUse(session, Right.admin, "") };
  coordinator = new Coordinator(resolved, { changes: commits.journal, access, events: metrics });
  try {
    restore(coordinator, await storage.load());
  } catch (error) {
    await storage.close();
    throw error;
  }

  const operations: OperationsHost = { metricsText: () => metrics.text(), notReady: readiness(commits, options.leaderKnown ?? (() => true)) };
  const routes = createHttpHandler(options.browserBundlePath ?? defaultBundlePath(), options.pageScriptsPath ?? defaultPageScriptsPath(), createOperationsHandler(operations, guard.authenticator));
  const addresses = new AddressQuota(resolved.limits);
  const rates = new AddressRate(resolved.maxNewConnectionsPerSecond);
  const holds = new RefusalHolds(resolved.clock, resolved.refusalHoldMs);
  /** Connections past their address's quota: not counted, and answered 503 or 4005 at their first request. */
  const overQuota = new WeakSet<Socket>();
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    if (request.socket.writableEnded || holds.holds(request.socket)) return; // refused past the connection rate: answered already, or held
    if (overQuota.has(request.socket)) refuseRequest(response, tooManyConnections(request.socket.remoteAddress));
    else routes(request, response);
  };
  // An HTTP request must be complete (headers and all) by the handshake deadline.
  const deadlines = handshakeDeadlines(resolved.handshakeTimeoutMs);
  const https = certificate && createHttpsServer({ ...certificate, handshakeTimeout: resolved.handshakeTimeoutMs, ...deadlines }, handler);
  const http = https ?? createHttpServer(deadlines, handler);
  http.on("clientError", refuseBadRequest);
  const wss = new WebSocketServer({ noServer: true, maxPayload: resolved.limits.maxFrameBytes });
  wss.on("wsClientError", refuseMalformedUpgrade);
  // A follower's multiplexed links: each envelope is a client's frame behind a head.
  const linkWss = new WebSocketServer({ noServer: true, maxPayload: resolved.limits.maxFrameBytes + LINK_HEAD_BYTES });
  const origins = new OriginPolicy(options.allowOrigins);
  const tooManyConnections = (ip: string | undefined) => `too many connections from ${ip} (the most is ${resolved.limits.maxConnectionsPerAddress})`;
  const heartbeats = new Heartbeats(resolved.clock, (session) => coordinator.heartbeatInterval(session));
  const connectionHost: ConnectionHost = {
    coordinator,
    guard,
    commits,
    heartbeats,
    turns: new TurnBudget(),
    holds,
    closed(connection) {
      connections.delete(connection);
    },
  };
  // A stream of a follower's link is a client's connection, with the client's address: the rate and
  // quota of new connections per address apply to it as to a direct one, refused with 4005.
  const countedStreams = new WeakSet<LinkStream>();
  const linkHost = {
    turns: connectionHost.turns,
    logger,
    opened(stream: LinkStream) {
      openSockets += 1;
      if (!rates.take(stream.ip, resolved.clock.now())) {
        metrics.connectionRefused("rate");
        refuseAfterUpgrade(stream, stream, `more than ${resolved.maxNewConnectionsPerSecond} new connections per second from ${stream.ip}; retry later`);
      } else if (!addresses.tryOpen(stream.ip)) {
        metrics.connectionRefused("quota");
        refuseAfterUpgrade(stream, stream, tooManyConnections(stream.ip));
      } else {
        countedStreams.add(stream);
        connections.add(new Connection(stream, stream, stream.ip, stream.address, connectionHost));
      }
    },
    ended(stream: LinkStream) {
      openSockets -= 1;
      if (countedStreams.delete(stream)) addresses.closed(stream.ip);
    },
  };
  // New connections per address per second, before anything is read or a TLS handshake made: that
  // also bounds the handshakes (TLS, then a JWT checked per hello) one address can make the server do.
  http.on("connection", (socket: Socket) => {
    if (rates.take(socket.remoteAddress ?? "unknown", resolved.clock.now())) return;
    metrics.connectionRefused("rate");
    refuseConnection(socket, options.tls !== undefined, resolved.maxNewConnectionsPerSecond, holds);
  });
  // Open connections per address, counted from the TCP connection (after TLS under TLS) whether or not
  // it ever upgrades. A connection that never completes an HTTP request or upgrade (half-open, or just
  // idle) is dropped after the handshake deadline; ws clears the timeout once the socket is a WebSocket.
  http.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    if (socket.destroyed || socket.writableEnded) return;
    dropIfIdle(socket, resolved.handshakeTimeoutMs);
    openSockets += 1;
    if (!addresses.tryOpen(socket.remoteAddress ?? "unknown")) {
      metrics.connectionRefused("quota");
      overQuota.add(socket);
      socket.once("close", closeUncounted);
    } else socket.once("close", closeCounted);
  });
  function closeCounted(this: Socket): void {
    openSockets -= 1;
    addresses.closed(this.remoteAddress ?? "unknown");
  }
  function closeUncounted(): void {
    openSockets -= 1;
  }
  http.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    if (socket.writableEnded || holds.holds(socket)) return; // refused past the connection rate: answered already, or held
    if (!commits.serving()) {
      socket.destroy();
      return;
    }
    if (!admitUpgrade(request, socket, origins, logger)) {
      metrics.connectionRefused("origin");
      return;
    }
    const relayed = forwardedPeer(request, options.clusterSecret);
    if (relayed === "refused") {
      logger?.warn({ address: remoteIp(request) }, "upgrade refused: wrong cluster secret");
      refuseUpgrade(socket, 403, "the cluster secret does not match: every gateway must be given the same --cluster-secret-file");
      return;
    }
    if (request.headers[LINK_HEADER] !== undefined) {
      if (!provesGateway(request, options.clusterSecret)) {
        logger?.warn({ address: remoteIp(request) }, "link refused: no cluster secret, or a wrong one");
        refuseUpgrade(socket, 403, "a multiplexed link is for gateways proving the cluster secret: every gateway must be given the same --cluster-secret-file");
      } else if (request.headers[LINK_HEADER] !== LINK_VERSION) refuseUpgrade(socket, 400, `this leader speaks link ${LINK_VERSION}; run the same version on every gateway`);
      else
        linkWss.handleUpgrade(request, socket, head, (ws) => {
          socket.removeListener("timeout", destroyOnTimeout);
          new LeaderLink(ws, socket, linkHost);
        });
      return;
    }
    // What the connection needs of the request is read here, and the connection is made outside this
    // scope: a listener made in it would capture `request`, and keep the IncomingMessage (headers,
    // raw headers, streams: over 1 KiB) alive for as long as the connection is open.
    const ip = relayed?.ip ?? remoteIp(request);
    const address = relayed?.address ?? remoteAddress(request);
    // A proven gateway carries many clients' connections: its own address's quota is not theirs, and each
    // relayed client counts under its own address instead, as if it had connected here.
    const relayedOverQuota = relayed !== undefined && !addresses.tryOpen(ip);
    if (relayed && !relayedOverQuota) socket.once("close", () => addresses.closed(ip));
    if (relayedOverQuota) metrics.connectionRefused("quota");
    const refusal = (overQuota.has(socket) && !relayed) || relayedOverQuota ? tooManyConnections(ip) : undefined;
    wss.handleUpgrade(request, socket, head, (ws) => {
      // ws has cleared the handshake timeout but not its listener (a once-wrapper of ~200 bytes), which
      // would otherwise stay for the socket's life.
      socket.removeListener("timeout", destroyOnTimeout);
      if (refusal !== undefined) refuseAfterUpgrade(ws, socket, refusal);
      else connections.add(new Connection(ws, socket, ip, address, connectionHost));
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(resolved.port, resolved.host, () => {
        http.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    await storage.close();
    throw error;
  }
  const address = http.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let metricsListener: Server | undefined;
  try {
    metricsListener = options.metricsPort === undefined ? undefined : await listenForMetrics(createOperationsHandler(operations, undefined), options.metricsHost ?? "127.0.0.1", options.metricsPort);
  } catch (error) {
    http.close();
    await storage.close();
    throw error;
  }
  const stopStallWatch = logger ? watchForStalls(logger, options.stallMs ?? 1_000) : () => {};
  let closing: Promise<void> | undefined;

  return {
    url: `${options.tls ? "wss" : "ws"}://${host}:${address.port}`,
    host: address.address,
    port: address.port,
    metricsUrl: metricsListener && urlOf(metricsListener),
    coordinator,
    security: { auth: guard.authenticator.describe(), origins: origins.describe(), tls: options.tls !== undefined },
    durable: storage.durable,
    failed,
    stepDown(reason) {
      commits.fail(new HandedOverError(reason));
    },
    reload() {
      const report = reloadSecrets(guard, coordinator.sessions.values(), coordinator.accounts, https && options.tls && { options: options.tls, server: https });
      for (const closed of report.closed) logger?.info(closed, "session closed: its token was removed from the token file");
      return report;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        stopStallWatch();
        metricsListener?.close();
        metricsListener?.closeAllConnections();
        http.close(() => {
          // A write still in flight (a networked store) settles before the store closes.
          void commits
            .settled()
            .then(() => storage.close())
            .catch((error: unknown) => logger?.error({ err: error }, "closing the storage failed"))
            .finally(resolve);
        });
        // Whatever is pending goes to disk (and its replies out) before the goodbye.
        commits.flush();
        holds.releaseAll();
        for (const connection of connections) connection.close(CloseCode.SERVICE_RESTART, "server restarting: reconnect and resume");
        coordinator.stopDeadlines();
        heartbeats.clear();
        for (const session of coordinator.sessions.values()) {
          for (const waiter of session.waits.values()) waiter.timer?.cancel();
        }
        // Sockets whose close handshake stalls must not hold the server open.
        setTimeout(() => {
          for (const client of wss.clients) client.terminate();
          for (const link of linkWss.clients) link.terminate();
          http.closeAllConnections();
        }, 1_000).unref();
        wss.close();
        linkWss.close();
      });
      return closing;
    },
  };
}

/** The metrics listener: probes and /metrics only, without authentication (see ServerOptions.metricsPort). */
async function listenForMetrics(operations: OperationsHandler, host: string, port: number): Promise<Server> {
  const server = createHttpServer((request, response) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    if (operations(path, request, response)) return;
    response.writeHead(404, { "content-type": "text/plain" }).end("not found; this listener serves /metrics, /livez, /readyz and /healthz\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

function urlOf(server: Server): string {
  const address = server.address() as AddressInfo;
  return `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
}

/** The handshake deadline's 'timeout' listener: one function for every socket rather than a closure each. */
function remoteAddress(request: IncomingMessage): string {
  const socket = request.socket;
  return `${socket.remoteAddress ?? "unknown"}:${socket.remotePort ?? 0}`;
}
