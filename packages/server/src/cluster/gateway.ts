import type { Logger } from "pino";
import { DEFAULT_LIMITS } from "@leasehold/protocol";
import { OriginPolicy } from "../auth/origin.js";
import { EtcdStorage } from "../persistence/etcd-storage.js";
import { readCertificate, type ReloadReport } from "../reload.js";
import { createServer, type LeaseholdServer } from "../server.js";
import { resolveOptions, type ServerOptions } from "../options.js";
import { EtcdClient } from "./etcd-client.js";
import { followerHttpHandler } from "./follower-http.js";
import { dataPrefixOf, electionPrefixOf } from "./layout.js";
import { Leadership, currentLeader } from "./leadership.js";
import { MultiplexRelay } from "./multiplex-relay.js";
import { Relay, type RelayOptions } from "./relay.js";

/**
 * One gateway of a cluster on etcd (`leasehold serve --etcd ...`). It listens on its port all the
 * time and campaigns for leadership (leadership.ts). While it follows, its port relays every
 * WebSocket to the leader (relay.ts), found through the election key's value: the leader's advertise
 * URL. Once it wins, it stops relaying, loads the state from etcd (EtcdStorage, guarded by its term)
 * and runs the ordinary server on the same port, with its election as the server's authority: every
 * frame and commit checks that the election lease is surely alive.
 *
 * When leadership is lost (lease lapsed, etcd without quorum, a commit refused because another
 * gateway leads) the server stops at once, closes every client with 1012 (reconnect and resume),
 * and the gateway goes back to campaigning with a fresh lease, rather than exiting: with quorum lost
 * every gateway is in this state, and service must come back by itself when quorum returns without
 * waiting for a supervisor to restart processes. The old server's state is dropped; the next leader
 * (this gateway or another) loads it from etcd.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.server.logger;
  const client = new EtcdClient(options.endpoints, {
    requestTimeoutMs: options.requestTimeoutMs,
    writeTimeoutMs: options.writeTimeoutMs ?? writeTimeoutFor(options.electionTtlSeconds),
    onEndpointChange: ({ from, to, reason, why }) =>
      why === "failed"
        ? logger?.warn({ etcdEndpoint: to, previousEtcdEndpoint: from }, `etcd calls now go to ${to}: ${from} failed (${reason})`)
        : logger?.info({ etcdEndpoint: to, previousEtcdEndpoint: from }, `etcd calls now go to ${to}: ${reason}`),
  });
  const host = options.server.host ?? "127.0.0.1";
  const electionPrefix = electionPrefixOf(options.prefix);
  // The leader's address, read from etcd at most every LEADER_CACHE_MS: a leader paused (SIGSTOP)
  // still accepts TCP connections, so a failed dial alone would not tell that it changed.
  let leaderUrl: { url: Promise<string | undefined>; readAt: number } | undefined;
  const readLeaderUrl = () => {
    if (!leaderUrl || performance.now() - leaderUrl.readAt > LEADER_CACHE_MS) {
      const url = currentLeader(client, electionPrefix).then(
        // Its own key heads the election while it still relays: its campaign has yet to see the
        // predecessor's key go (up to one TTL), or it is about to take over. Nobody serves yet.
        (leader) => (leader?.value.toString("utf8") === advertise ? undefined : leader?.value.toString("utf8")),
        () => undefined,
      );
      leaderUrl = { url, readAt: performance.now() };
    }
    return leaderUrl.url;
  };
  // Every gateway serves the same certificate, as leader and as follower; `reload()` reads it again.
  let tls = options.server.tls && readCertificate(options.server.tls);
  const resolved = resolveOptions(options.server);
  const serveHttp = followerHttpHandler(options.server, readLeaderUrl);
  const makeRelay = (): Relay | MultiplexRelay => {
    const relayOptions: RelayOptions = {
      leaderUrl: readLeaderUrl,
      onLeaderUnreachable: () => (leaderUrl = undefined),
      secret: options.server.clusterSecret,
      origins: new OriginPolicy(options.server.allowOrigins),
      maxFrameBytes: options.server.limits?.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes,
      highWaterBytes: 1024 * 1024,
      connectTimeoutMs: 2_000,
      handshakeTimeoutMs: resolved.handshakeTimeoutMs,
      maxNewConnectionsPerSecond: resolved.maxNewConnectionsPerSecond,
      tls,
      serveHttp,
      logger,
    };
    return options.relayMode === "multiplex" ? new MultiplexRelay({ ...relayOptions, links: options.relayLinks ?? DEFAULT_RELAY_LINKS }) : new Relay(relayOptions);
  };
  if (options.relayMode === "multiplex" && !options.server.clusterSecret) throw new Error("--relay-mode multiplex needs --cluster-secret-file: the leader takes a multiplexed link only from a gateway that proves the secret");
  let relay: Relay | MultiplexRelay | undefined = makeRelay();
  const port = await relay.listen(host, options.server.port ?? 7070);
  // While it relays, a follower reads who leads every LEADER_CACHE_MS and moves its clients off a
  // leader etcd no longer names (a paused one keeps their sockets open and silent: Relay.leaderIs).
  const leaderCheck = setInterval(() => {
    const following = relay;
    if (!following || following.connections === 0) return;
    const reading = readLeaderUrl();
    // When the read this answer comes from was sent (it may be a cached one, up to LEADER_CACHE_MS old).
    const readAt = leaderUrl?.readAt ?? performance.now();
    void reading.then((leader) => {
      if (leader !== undefined && relay === following) following.leaderIs(leader, readAt);
    });
  }, LEADER_CACHE_MS);
  // While it leads, its commits go to etcd's raft leader (EtcdClient.followRaftLeader); checked again
  // every RAFT_LEADER_CHECK_MS, since etcd may elect another.
  const raftLeaderCheck = setInterval(() => {
    if (role === "leader") void client.followRaftLeader().catch(() => undefined);
  }, RAFT_LEADER_CHECK_MS);
  const url = `${tls ? "wss" : "ws"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const advertise = options.advertise ?? url;
  let role: GatewayRole = "follower";
  let server: LeaseholdServer | undefined;
  let stopped = false;
  const stopping = new AbortController();
  const roles: ((role: GatewayRole) => void)[] = [];
  const becomes = (next: GatewayRole) => {
    role = next;
    logger?.info({ role: next, url, advertise }, next === "leader" ? `this gateway leads (${advertise})` : `this gateway follows and relays to the leader`);
    for (const listener of roles) listener(next);
  };

  const loop = (async () => {
    let backoffMs = 100;
    while (!stopped) {
      const leadership = new Leadership({
        client,
        prefix: electionPrefix,
        ttlSeconds: options.electionTtlSeconds,
        value: new TextEncoder().encode(advertise),
        onLost: (reason) => server?.stepDown(reason),
      });
      try {
        const term = await leadership.campaign(stopping.signal);
        const wonAt = performance.now();
        // Not awaited: a member that hangs would hold the failover for a read timeout.
        void client.followRaftLeader().catch(() => undefined);
        await relay?.close();
        relay = undefined;
        leaderUrl = undefined;
        const storage = new EtcdStorage({
          client,
          prefix: dataPrefixOf(options.prefix),
          leaderKey: term.key,
          epoch: term.epoch,
          writesInFlight: options.writesInFlight,
          onSnapshotFailed: (error) => logger?.warn({ err: error }, "snapshot to etcd failed; the next write tries again"),
        });
        server = await createServer({ ...options.server, ...(tls && { tls }), host, port, storage, authority: leadership });
        // What a failover spends after the election, grown with the log replayed (the failover bench prints these figures).
        const { ms: loadMs, ...read } = storage.lastLoad ?? { ms: Number.NaN };
        logger?.info({ ...read, loadMs: Math.round(loadMs), servingMs: Math.round(performance.now() - wonAt) }, "loaded the state from etcd");
        becomes("leader");
        backoffMs = 100;
        const error = await Promise.race([server.failed, new Promise<undefined>((resolve) => stopping.signal.addEventListener("abort", () => resolve(undefined)))]);
        if (error) logger?.warn({ err: error }, `stepped down: ${error.message}`);
      } catch (error) {
        if (!stopped) logger?.warn({ err: error }, `campaign failed, trying again in ${backoffMs} ms: ${error instanceof Error ? error.message : String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 2_000);
      } finally {
        // Not awaited: with etcd's quorum lost the revoke waits out its request timeout, and the
        // lease then lapses by itself anyway; the relay must be back at once.
        void leadership.resign();
        await server?.close();
        server = undefined;
      }
      if (stopped) break;
      if (!relay) {
        relay = makeRelay();
        await relay.listen(host, port);
        becomes("follower");
      }
    }
  })();

  return {
    url,
    advertise,
    get role() {
      return role;
    },
    get server() {
      return server;
    },
    onRole(listener) {
      roles.push(listener);
    },
    reload() {
      // Read first: a certificate that cannot be used changes nothing (readCertificate throws).
      const certificate = options.server.tls && readCertificate(options.server.tls);
      if (server) return server.reload();
      tls = certificate;
      if (tls) relay?.useCertificate(tls);
      // A follower checks no credentials: the next term's leader reads the auth files as it starts.
      return { auth: "checked by the leader", tls: tls !== undefined, closed: [] };
    },
    async close() {
      stopped = true;
      clearInterval(leaderCheck);
      clearInterval(raftLeaderCheck);
      stopping.abort();
      await loop;
      await relay?.close();
      client.close();
    },
  };
}

/**
 * A gateway's etcd write timeout: half its election TTL. A write to a member that hangs (SIGSTOP, a
 * stalled disk) holds every reply behind it until this passes and the write goes to the next member,
 * so it should cost well under a failover (about one TTL); and the 4 attempts of a write
 * (etcd-storage.ts) must outlast an election of etcd's own, during which raft drops proposals:
 * etcd's minimum lease TTL is 1.5 election timeouts, so 4 × TTL/2 = 2 TTL ≥ 3 election timeouts.
 * Measured on this 2-core machine at a load of 16 (fixture timings: 500 ms election timeout, TTL
 * 1 s): a small transaction p50 7 ms, p99 55 to 79 ms, max 236 ms; a 1.4 MB put (a snapshot chunk)
 * 91 to 176 ms p50, max 659 ms; etcd's leader killed to the first write accepted: 643 to 799 ms.
 */
export function writeTimeoutFor(electionTtlSeconds: number): number {
  return (electionTtlSeconds * 1_000) / 2;
}

/**
 * Links a multiplexing follower keeps to the leader. A few rather than one: a link is one TCP
 * connection, written and read by one event-loop turn at a time at each end, and a lost link drops
 * only its share of the clients.
 */
export const DEFAULT_RELAY_LINKS = 4;

/** How often a leading gateway checks that its etcd calls go to etcd's raft leader: a few status reads, not per request. */
const RAFT_LEADER_CHECK_MS = 5_000;

/** How long a follower relays to the leader it read from etcd before reading again, and how often it checks that its relayed connections go to that leader. */
const LEADER_CACHE_MS = 500;

export interface GatewayOptions {
  /** etcd's client URLs. */
  endpoints: string[];
  /** Keys go under it: `<prefix>election/` and `<prefix>data/`. Default `/leasehold/`. */
  prefix: string;
  /** The election lease's TTL; etcd raises it to its minimum (2 s at its default timings). */
  electionTtlSeconds: number;
  /** The URL other gateways reach this one at when it leads; default `ws://host:port` as it listens. */
  advertise?: string;
  /** Deadline of each etcd read and keepalive, in ms (EtcdClient's default: 3,000). */
  requestTimeoutMs?: number;
  /** Deadline of each etcd write, in ms; default `writeTimeoutFor(electionTtlSeconds)`, half the TTL. */
  writeTimeoutMs?: number;
  /** The leader's log entries in flight to etcd at once (EtcdStorage's `writesInFlight`, default 1). */
  writesInFlight?: number;
  /**
   * How a follower carries its clients to the leader: `per-client` (the default) opens an upstream
   * WebSocket per client; `multiplex` carries them all as streams of a few links (multiplex-relay.ts),
   * which needs the cluster secret.
   */
  relayMode?: RelayMode;
  /** Links of a multiplexing follower; default DEFAULT_RELAY_LINKS. */
  relayLinks?: number;
  /** The server the leader runs, and the listener (host, port, origins, frame size) of every role. */
  server: ServerOptions & { logger?: Logger };
}

export type GatewayRole = "follower" | "leader";

export const RELAY_MODES = ["per-client", "multiplex"] as const;
export type RelayMode = (typeof RELAY_MODES)[number];

export interface Gateway {
  /** Where clients connect, whatever the role. */
  readonly url: string;
  readonly advertise: string;
  readonly role: GatewayRole;
  /** The running server while this gateway leads. */
  readonly server: LeaseholdServer | undefined;
  onRole(listener: (role: GatewayRole) => void): void;
  /**
   * SIGHUP: while leading, the server's reload (token file, JWT keys, certificate: server.reload());
   * while following, the certificate of the relay's listener (and of the next term). Throws, changing
   * nothing, if a file cannot be used.
   */
  reload(): ReloadReport;
  /** Stops campaigning, steps down if leading (clients get 1012), and closes the etcd connections. */
  close(): Promise<void>;
}
