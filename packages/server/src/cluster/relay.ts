import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { CloseCode, systemClock } from "@leasehold/protocol";
import type { Logger } from "pino";
import WebSocket, { WebSocketServer, type RawData } from "ws";
import { FORWARDED_ADDRESS_HEADER, FORWARDED_FOR_HEADER, GATEWAY_SECRET_HEADER } from "../auth/cluster-secret.js";
import type { OriginPolicy } from "../auth/origin.js";
import { AddressRate } from "../auth/quota.js";
import { LINK_HEADER } from "./link-envelope.js";
import { admitUpgrade, destroyOnTimeout, dropIfIdle, handshakeDeadlines, refuseBadRequest, refuseConnection, refuseMalformedUpgrade, refuseRequest, refuseUpgrade, remoteIp } from "../connection/upgrade.js";
import { REFUSAL_HOLD_MS, RefusalHolds } from "../connection/refusal-hold.js";

/**
 * Sent by a follower on every upgrade it relays, with or without the cluster secret: another follower
 * refuses such an upgrade rather than relay it again (see followerListener). The leader ignores it.
 */
export const RELAYED_HEADER = "x-leasehold-relayed";

/**
 * A follower gateway's listener: every WebSocket a client opens here is relayed to the leader over
 * one upstream WebSocket of its own, frames passed through as they are (the leader decodes,
 * authenticates the `hello` and applies every limit), closes mirrored both ways. Back-pressure is per
 * connection: a side whose peer has not taken what was sent to it is paused (not read), so a slow
 * reader's backlog builds up at the leader, whose slow-consumer rule (4006) then applies as on a
 * direct connection.
 *
 * The upstream upgrade carries the cluster secret and the client's address (auth/cluster-secret.ts).
 * The client's upgrade completes only once the upstream one has: with no leader reachable the client
 * gets HTTP 503 and tries its next URL.
 */
export class Relay {
  readonly #http: Server;
  readonly #https: HttpsServer | undefined;
  readonly #wss: WebSocketServer;
  readonly #pairs = new Set<RelayedPair>();

  constructor(readonly options: RelayOptions) {
    ({ http: this.#http, https: this.#https, wss: this.#wss } = followerListener(options, (request, socket, head) => void this.#upgrade(request, socket, head)));
  }

  /** Listens on `host:port` (0: any free port) and returns the port. */
  listen(host: string, port: number): Promise<number> {
    return listenOn(this.#http, host, port);
  }

  /** Stops listening at once and closes every relayed connection with 1012 (reconnect and resume). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    for (const { client, upstream } of this.#pairs) {
      upstream.terminate();
      closeClient(client, CloseCode.SERVICE_RESTART, "this gateway's role changed: reconnect and resume");
    }
    this.#http.closeAllConnections();
    this.#wss.close();
    await closed;
  }

  /** A new certificate for new connections (SIGHUP); open ones go on. */
  useCertificate(pair: { cert: string | Buffer; key: string | Buffer }): void {
    this.#https?.setSecureContext(pair);
  }

  get connections(): number {
    return this.#pairs.size;
  }

  /**
   * etcd named `leader` as the leader at `readAt` (performance.now()): every connection relayed to another gateway is closed
   * with 1012, so that its client resumes on `leader` at once. A leader paused (SIGSTOP) keeps its
   * TCP connections open and silent, and a client would otherwise learn only from its own silence
   * rule, three heartbeat intervals, which for a kept-alive lease is longer than its TTL.
   */
  leaderIs(leader: string, readAt: number): void {
    for (const pair of this.#pairs) {
      // A reading taken before a connection was opened may predate the leader it went to.
      if (pair.leader === leader || pair.openedAt > readAt) continue;
      this.#pairs.delete(pair);
      pair.upstream.terminate();
      closeClient(pair.client, CloseCode.SERVICE_RESTART, "the leader changed: reconnect and resume");
    }
  }

  async #upgrade(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    // The client may reset while the leader is dialled: an 'error' with no listener would end the process.
    socket.on("error", () => socket.destroy());
    if (!admitUpgrade(request, socket, this.options.origins, this.options.logger)) return;
    const ip = remoteIp(request);
    const address = `${ip}:${request.socket.remotePort ?? 0}`;
    let upstream: WebSocket;
    let leader: string | undefined;
    try {
      leader = await this.options.leaderUrl();
      if (leader === undefined) throw new Error("no gateway leads now (an election is under way, or etcd has no quorum)");
      upstream = await openUpstream(leader, this.options.secret, ip, address, this.options.maxFrameBytes, this.options.connectTimeoutMs);
    } catch (error) {
      this.options.onLeaderUnreachable?.();
      this.options.logger?.info({ address, err: error }, "relay refused: the leader is not reachable");
      refuseUpgrade(socket, 503, `the leader is not reachable through this gateway (${error instanceof Error ? error.message : String(error)}); try another gateway or again shortly`);
      return;
    }
    if (socket.destroyed) {
      upstream.terminate();
      return;
    }
    // An upgrade ws finds malformed (no key, a wrong version: answered 400 by wsClientError) never gets its
    // callback: its upstream, already open, would otherwise stay at the leader until the leader's handshake
    // deadline, a leader connection per malformed request.
    let piped = false;
    socket.once("close", () => {
      if (!piped) upstream.terminate();
    });
    this.#wss.handleUpgrade(request, socket, head, (client) => {
      piped = true;
      socket.removeListener("timeout", destroyOnTimeout);
      this.#pipe(client, upstream, leader);
    });
  }

  #pipe(client: WebSocket, upstream: WebSocket, leader: string): void {
    const pair = { client, upstream, leader, openedAt: performance.now() };
    this.#pairs.add(pair);
    forward(client, upstream, this.options.highWaterBytes);
    forward(upstream, client, this.options.highWaterBytes);
    client.on("close", (code, reason) => {
      this.#pairs.delete(pair);
      closeUpstream(upstream, code, reason.toString());
    });
    upstream.on("close", (code, reason) => {
      this.#pairs.delete(pair);
      // 1006: the leader vanished (killed, cut off): the client resumes elsewhere.
      if (code === 1006 || code === 1005) closeClient(client, CloseCode.SERVICE_RESTART, "the leader went away: reconnect and resume");
      else closeClient(client, code, reason.toString());
    });
    client.on("error", () => client.terminate());
    upstream.on("error", () => upstream.terminate());
    upstream.resume();
  }
}

/** One relayed connection: the client's socket, its upstream one, and the leader URL that upstream went to. */
interface RelayedPair {
  client: WebSocket;
  upstream: WebSocket;
  leader: string;
  /** performance.now() when it was opened. */
  openedAt: number;
}

export interface RelayOptions {
  /** The leader's WebSocket URL (its advertise URL), or undefined when nobody leads. */
  leaderUrl: () => Promise<string | undefined>;
  /** Told when the leader could not be reached, so that the next lookup reads etcd again. */
  onLeaderUnreachable?: () => void;
  secret: Buffer | undefined;
  origins: OriginPolicy;
  maxFrameBytes: number;
  /** Unsent bytes towards one side before the other side is no longer read. */
  highWaterBytes: number;
  connectTimeoutMs: number;
  /** A client's TCP connection must have become a WebSocket by then (the server's `handshakeTimeoutMs`). */
  handshakeTimeoutMs: number;
  /** New TCP connections per second from one client address (the server's `maxNewConnectionsPerSecond`), counted before TLS. */
  maxNewConnectionsPerSecond: number;
  /** How long a 429 past that rate is held before it is answered (connection/refusal-hold.ts); default 1000 ms. */
  refusalHoldMs?: number;
  /** The certificate and key of the client-facing listener (wss://), as the leader's; none: plain ws://. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Answers plain HTTP requests (a gateway's: follower-http.ts); none: every one is refused 503. */
  serveHttp?: (request: IncomingMessage, response: ServerResponse) => void;
  logger: Logger | undefined;
}

/**
 * The client-facing listener of a follower, whichever way it relays: plain requests served by `serveHttp`, TLS, the
 * handshake deadline and the rate of new connections per address as on the leader's own listener (without
 * the deadline a follower kept a silent TCP connection, or an upgrade never finished, for Node's 60 s, 90 s
 * with its 30 s checks; without TLS a client given every gateway's wss:// URL could not reach a follower;
 * without the rate one address made a follower do every TLS handshake it asked for, which the leader, seeing
 * only the upgrades relayed to it, could not bound), upgrades handed to `onUpgrade`.
 */
export function followerListener(options: RelayOptions, onUpgrade: (request: IncomingMessage, socket: Socket, head: Buffer) => void): FollowerListener {
  const refuse = (request: IncomingMessage, response: ServerResponse) => {
    if (request.socket.writableEnded || holds.holds(request.socket)) return; // refused past the connection rate: answered already, or held
    if (options.serveHttp) options.serveHttp(request, response);
    else refuseRequest(response, "this gateway is a follower; it relays WebSocket connections to the leader only");
  };
  const deadlines = handshakeDeadlines(options.handshakeTimeoutMs);
  const https = options.tls && createHttpsServer({ ...options.tls, handshakeTimeout: options.handshakeTimeoutMs, ...deadlines }, refuse);
  const http = https ?? createServer(deadlines, refuse);
  http.on("clientError", refuseBadRequest);
  // Before anything is read or a TLS handshake made ("connection" is the TCP connection, under TLS too).
  const rates = new AddressRate(options.maxNewConnectionsPerSecond);
  // A held socket is destroyed by the relay's closeAllConnections() when it closes; its timer does not keep the process alive.
  const holds = new RefusalHolds(systemClock, options.refusalHoldMs ?? REFUSAL_HOLD_MS);
  http.on("connection", (socket: Socket) => {
    if (!rates.take(socket.remoteAddress ?? "unknown", performance.now())) refuseConnection(socket, options.tls !== undefined, options.maxNewConnectionsPerSecond, holds);
  });
  http.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    if (!socket.destroyed && !socket.writableEnded) dropIfIdle(socket, options.handshakeTimeoutMs);
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes });
  wss.on("wsClientError", refuseMalformedUpgrade);
  http.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    if (socket.writableEnded || holds.holds(socket)) return; // refused past the connection rate: answered already, or held
    // A follower relays clients, never another gateway: an upgrade relayed here came from a gateway that
    // took this one for the leader (its own reading of etcd is stale, or this gateway heads the election
    // but has not taken over yet). Relayed again it would come back round, each hop a new connection
    // dialled within the same handshake timeout: one client made thousands of connections in 2 s
    // (a gateway relaying to itself) and starved the campaign that would have ended it.
    if (relayedByGateway(request)) {
      socket.on("error", () => socket.destroy());
      refuseUpgrade(socket, 503, "this gateway does not lead (it follows): a connection relayed by another gateway is not relayed again; that gateway reads the leader from etcd again");
      return;
    }
    onUpgrade(request, socket, head);
  });
  return { http, https, wss };
}

export interface FollowerListener {
  http: Server;
  /** The same server as `http` when the listener is TLS (its certificate can be replaced); else undefined. */
  https: HttpsServer | undefined;
  wss: WebSocketServer;
}

/** Listens on `host:port` (0: any free port) and returns the port. */
export async function listenOn(http: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  return (http.address() as AddressInfo).port;
}

/** Whether an upgrade comes from a gateway (a relayed client, or a multiplexed link), whatever its proof. */
function relayedByGateway(request: IncomingMessage): boolean {
  return request.headers[RELAYED_HEADER] !== undefined || request.headers[GATEWAY_SECRET_HEADER] !== undefined || request.headers[LINK_HEADER] !== undefined;
}

function openUpstream(url: string, secret: Buffer | undefined, ip: string, address: string, maxFrameBytes: number, timeoutMs: number): Promise<WebSocket> {
  const proof: Record<string, string> = secret ? { [GATEWAY_SECRET_HEADER]: secret.toString("utf8"), [FORWARDED_FOR_HEADER]: ip, [FORWARDED_ADDRESS_HEADER]: address } : {};
  const headers = { [RELAYED_HEADER]: "1", ...proof };
  const upstream = new WebSocket(url, { headers, maxPayload: maxFrameBytes * 2, handshakeTimeout: timeoutMs, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    upstream.once("open", () => {
      upstream.removeAllListeners("error");
      // The leader may write its first frames (a quota's LIMIT_EXCEEDED, then 4005) in the same TCP chunk as
      // its 101: ws parses them on the next tick, before this promise's continuation has piped the pair, and
      // a frame with no listener is lost. Paused, they wait in the socket until #pipe resumes it.
      upstream.pause();
      resolve(upstream);
    });
    upstream.once("unexpected-response", (_request, response) => {
      upstream.terminate();
      reject(new Error(`the leader at ${url} answered HTTP ${response.statusCode}`));
    });
    upstream.once("error", (error) => reject(error));
  });
}

/** Passes every frame of `from` to `to` as it is; stops reading `from` while `to` has more than `highWater` unsent. */
function forward(from: WebSocket, to: WebSocket, highWater: number): void {
  let unsent = 0;
  let paused = false;
  from.on("message", (data: RawData, isBinary: boolean) => {
    if (to.readyState !== WebSocket.OPEN) return;
    const size = byteLength(data);
    unsent += size;
    to.send(data, { binary: isBinary }, () => {
      unsent -= size;
      if (paused && unsent <= highWater / 2) {
        paused = false;
        from.resume();
      }
    });
    if (!paused && unsent > highWater) {
      paused = true;
      from.pause();
    }
  });
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

/** Codes a peer may send (RFC 6455: not 1005, 1006, 1015); any other close of the other side becomes 1012. */
function sendable(code: number): boolean {
  return code === 1000 || (code >= 1001 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** Closes a client's WebSocket with the code of the other side (1012 for one it may not send), not waiting long for its answer. */
export function closeClient(client: WebSocket, code: number, reason: string): void {
  if (client.readyState === WebSocket.CLOSED || client.readyState === WebSocket.CLOSING) return;
  client.close(sendable(code) ? code : CloseCode.SERVICE_RESTART, reason.slice(0, 120));
  // A client that does not answer the close is not waited for.
  setTimeout(() => client.terminate(), 1_000).unref();
}

function closeUpstream(upstream: WebSocket, code: number, reason: string): void {
  if (upstream.readyState === WebSocket.CLOSED || upstream.readyState === WebSocket.CLOSING) return;
  if (sendable(code)) upstream.close(code, reason.slice(0, 120));
  else upstream.terminate();
}

