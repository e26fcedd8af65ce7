import type { IncomingMessage, Server } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import { CloseCode } from "@leasehold/protocol";
import WebSocket, { WebSocketServer, type RawData } from "ws";
import { GATEWAY_SECRET_HEADER } from "../auth/cluster-secret.js";
import type { Wire } from "../connection/peer-socket.js";
import { admitUpgrade, destroyOnTimeout, refuseUpgrade, remoteIp } from "../connection/upgrade.js";
import { batchWritesForTurn } from "../connection/write-batch.js";
import { DROPPED, Kind, LINK_HEAD_BYTES, LINK_HEADER, LINK_VERSION, decodeEnvelope, encodeAck, encodeClose, encodeData, encodeOpen, type StreamPeer } from "./link-envelope.js";
import { closeClient, followerListener, listenOn, type RelayOptions } from "./relay.js";

/**
 * A follower gateway's listener in `--relay-mode multiplex`: every client's WebSocket is carried to
 * the leader as a stream of one of a few links (`links` per leader, each a WebSocket proving the
 * cluster secret), rather than over an upstream connection of its own, so that the leader holds a
 * few sockets per follower instead of one per client (PROTOCOL.md, "The gateway-to-leader link").
 * The leader runs a connection per stream (leader-link.ts): it authenticates each client's hello and
 * counts it under the client's address, which the stream's OPEN names.
 *
 * Back-pressure: towards a client, each message's bytes are acknowledged to the leader once written
 * to the client's socket, and the leader closes a stream whose unacknowledged bytes pass its
 * backlog limit (4006), so a client that does not read holds at most that much here and never stalls
 * its link. Towards the leader, a client is not read while the leader asked for a pause (PAUSE), and
 * every client of a link is not read while the link has more than `highWaterBytes` unsent.
 */
export class MultiplexRelay {
  readonly #http: Server;
  readonly #https: HttpsServer | undefined;
  readonly #wss: WebSocketServer;
  #pool: PooledLink[] = [];
  #turn = 0;

  constructor(readonly options: MultiplexRelayOptions) {
    ({ http: this.#http, https: this.#https, wss: this.#wss } = followerListener(options, (request, socket, head) => void this.#upgrade(request, socket, head)));
  }

  /** A new certificate for new connections (SIGHUP); open ones go on. */
  useCertificate(pair: { cert: string | Buffer; key: string | Buffer }): void {
    this.#https?.setSecureContext(pair);
  }

  /** Listens on `host:port` (0: any free port) and returns the port. */
  listen(host: string, port: number): Promise<number> {
    return listenOn(this.#http, host, port);
  }

  /** Stops listening at once and closes every carried connection with 1012 (reconnect and resume). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    for (const pooled of this.#pool) pooled.link?.fail("this gateway's role changed: reconnect and resume");
    this.#pool = [];
    this.#http.closeAllConnections();
    this.#wss.close();
    await closed;
  }

  /** Client connections carried now. */
  get connections(): number {
    return this.#pool.reduce((sum, pooled) => sum + (pooled.link?.streams ?? 0), 0);
  }

  /** Links open to the leader now. */
  get links(): number {
    return this.#pool.filter((pooled) => pooled.link !== undefined).length;
  }

  /** etcd named `leader` at `readAt` (performance.now()): links to any other gateway close, their clients with 1012 (see Relay.leaderIs). */
  leaderIs(leader: string, readAt: number): void {
    for (const pooled of this.#pool) {
      if (pooled.leader === leader || pooled.openedAt > readAt) continue;
      pooled.link?.fail("the leader changed: reconnect and resume");
    }
    this.#pool = this.#pool.filter((pooled) => pooled.leader === leader || pooled.openedAt > readAt);
  }

  async #upgrade(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    // The client may reset while the leader is dialled: an 'error' with no listener would end the process.
    socket.on("error", () => socket.destroy());
    if (!admitUpgrade(request, socket, this.options.origins, this.options.logger)) return;
    const ip = remoteIp(request);
    const peer = { ip, address: `${ip}:${request.socket.remotePort ?? 0}` };
    let link: UpstreamLink;
    try {
      link = await this.#linkToLeader();
    } catch (error) {
      this.options.onLeaderUnreachable?.();
      this.options.logger?.info({ address: peer.address, err: error }, "relay refused: the leader is not reachable");
      refuseUpgrade(socket, 503, `the leader is not reachable through this gateway (${error instanceof Error ? error.message : String(error)}); try another gateway or again shortly`);
      return;
    }
    if (socket.destroyed) return;
    this.#wss.handleUpgrade(request, socket, head, (client) => {
      socket.removeListener("timeout", destroyOnTimeout); // see Relay: ws clears the timeout, not its listener
      link.carry(client, peer);
    });
  }

  /** A link to the current leader: a new one while there are fewer than `links`, else the next in turn. */
  async #linkToLeader(): Promise<UpstreamLink> {
    const leader = await this.options.leaderUrl();
    if (leader === undefined) throw new Error("no gateway leads now (an election is under way, or etcd has no quorum)");
    const toLeader = this.#pool.filter((pooled) => pooled.leader === leader);
    if (toLeader.length >= this.options.links) return (toLeader[this.#turn++ % toLeader.length] as PooledLink).ready;
    const pooled: PooledLink = { leader, openedAt: performance.now(), ready: openLink(leader, this.options), link: undefined };
    this.#pool.push(pooled);
    const forget = () => (this.#pool = this.#pool.filter((other) => other !== pooled));
    try {
      pooled.link = await pooled.ready;
    } catch (error) {
      forget();
      throw error;
    }
    pooled.link.socket.on("close", forget);
    return pooled.link;
  }
}

export interface MultiplexRelayOptions extends RelayOptions {
  /** Links kept to the leader; clients are spread over them in turn. */
  links: number;
}

/** A link of the pool: opening (`link` undefined) or open. */
interface PooledLink {
  leader: string;
  openedAt: number;
  ready: Promise<UpstreamLink>;
  link: UpstreamLink | undefined;
}

/** A client carried by a link, and whether the leader asked that it not be read. */
interface CarriedClient {
  client: WebSocket;
  pausedByLeader: boolean;
}

/** The follower's end of one link: routes envelopes between the link and its clients. */
class UpstreamLink {
  readonly #clients = new Map<number, CarriedClient>();
  #nextStream = 1;
  /** Bytes acknowledged per stream since the last ACKs went out (sent once per turn). */
  #acks = new Map<number, number>();
  #congested: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: WebSocket,
    /** The link's TCP socket, corked to send a turn's envelopes in one write. */
    readonly raw: Wire,
    readonly highWaterBytes: number,
  ) {
    socket.on("message", (data: RawData, isBinary: boolean) => this.#onEnvelope(data as Buffer, isBinary));
    socket.on("close", (code: number) => this.#closeAll(code === CloseCode.PROTOCOL_ERROR ? "the leader refused this gateway's link" : "the leader went away: reconnect and resume"));
    socket.on("error", () => socket.terminate());
  }

  get streams(): number {
    return this.#clients.size;
  }

  /** Carries a client's WebSocket as a new stream. */
  carry(client: WebSocket, peer: StreamPeer): void {
    if (this.socket.readyState !== WebSocket.OPEN) {
      closeClient(client, CloseCode.SERVICE_RESTART, "the leader went away: reconnect and resume");
      return;
    }
    const stream = this.#nextStream++;
    this.#clients.set(stream, { client, pausedByLeader: false });
    this.#send(encodeOpen(stream, peer));
    if (this.#congested) client.pause();
    client.on("message", (data: RawData, isBinary: boolean) => this.#send(encodeData(stream, data as Buffer, isBinary)));
    client.on("close", (code: number, reason: Buffer) => {
      if (this.#clients.delete(stream)) this.#send(encodeClose(stream, code, reason.toString()));
    });
    client.on("error", () => client.terminate());
  }

  /** Ends the link and closes every client it carries with 1012. */
  fail(reason: string): void {
    this.socket.terminate();
    this.#closeAll(reason);
  }

  #onEnvelope(data: Buffer, isBinary: boolean): void {
    const envelope = isBinary ? decodeEnvelope(data) : "a text message on a link";
    if (typeof envelope === "string") return this.fail(`the leader sent a malformed envelope (${envelope}): reconnect and resume`);
    const carried = this.#clients.get(envelope.stream);
    if (!carried) return; // the client has just gone: its CLOSE crosses this envelope
    const { client } = carried;
    switch (envelope.kind) {
      case Kind.BINARY: {
        const bytes = envelope.data.length;
        client.send(envelope.data, { binary: true }, (error) => error || this.#acknowledge(envelope.stream, bytes));
        return;
      }
      case Kind.CLOSE:
        this.#clients.delete(envelope.stream);
        if (envelope.code === DROPPED) client.terminate();
        else closeClient(client, envelope.code, envelope.reason);
        return;
      case Kind.PAUSE:
        carried.pausedByLeader = true;
        client.pause();
        return;
      case Kind.RESUME:
        carried.pausedByLeader = false;
        if (!this.#congested) client.resume();
        return;
      default:
        return this.fail(`the leader sent envelope kind ${envelope.kind}, which only followers send: reconnect and resume`);
    }
  }

  #send(envelope: Buffer): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    batchWritesForTurn(this.raw);
    this.socket.send(envelope);
    if (!this.#congested && this.socket.bufferedAmount > this.highWaterBytes) this.#congest();
  }

  /**
   * The leader is not taking what this link sends: no client of it is read until half of it has gone.
   * Checked every CONGESTION_CHECK_MS while it lasts (ws tells of no drain), rather than a callback
   * made on every send.
   */
  #congest(): void {
    for (const { client } of this.#clients.values()) client.pause();
    this.#congested = setInterval(() => {
      if (this.socket.readyState === WebSocket.OPEN && this.socket.bufferedAmount > this.highWaterBytes / 2) return;
      clearInterval(this.#congested);
      this.#congested = undefined;
      for (const carried of this.#clients.values()) if (!carried.pausedByLeader) carried.client.resume();
    }, CONGESTION_CHECK_MS);
    this.#congested.unref();
  }

  #acknowledge(stream: number, bytes: number): void {
    if (this.#acks.size === 0) setImmediate(this.#sendAcks);
    this.#acks.set(stream, (this.#acks.get(stream) ?? 0) + bytes);
  }

  readonly #sendAcks = (): void => {
    const acks = this.#acks;
    this.#acks = new Map();
    for (const [stream, bytes] of acks) if (this.#clients.has(stream)) this.#send(encodeAck(stream, bytes));
  };

  #closeAll(reason: string): void {
    clearInterval(this.#congested);
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    for (const { client } of clients) closeClient(client, CloseCode.SERVICE_RESTART, reason);
  }
}

/** How often a congested link checks whether the leader has taken enough of what it was sent. */
const CONGESTION_CHECK_MS = 10;

/** Opens a link to the leader at `url`, proving the cluster secret (without it the leader refuses links). */
function openLink(url: string, options: MultiplexRelayOptions): Promise<UpstreamLink> {
  if (!options.secret) return Promise.reject(new Error("a multiplexed relay needs the cluster secret (--cluster-secret-file)"));
  const headers = { [GATEWAY_SECRET_HEADER]: options.secret.toString("utf8"), [LINK_HEADER]: LINK_VERSION };
  const socket = new WebSocket(url, { headers, maxPayload: options.maxFrameBytes * 2 + LINK_HEAD_BYTES, handshakeTimeout: options.connectTimeoutMs, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    let raw: Wire | undefined;
    socket.once("upgrade", (response) => (raw = response.socket));
    socket.once("open", () => {
      socket.removeAllListeners("error");
      if (raw === undefined) {
        socket.terminate();
        reject(new Error(`the link to ${url} opened without a TCP socket`));
        return;
      }
      resolve(new UpstreamLink(socket, raw, options.highWaterBytes));
    });
    socket.once("unexpected-response", (_request, response) => {
      socket.terminate();
      reject(new Error(`the leader at ${url} answered HTTP ${response.statusCode} to a link`));
    });
    socket.once("error", (error) => reject(error));
  });
}
