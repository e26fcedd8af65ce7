import type { Logger } from "pino";
import { DEFAULT_LIMITS } from "@leasehold/protocol";
import { OriginPolicy } from "../auth/origin.js";
import { EtcdStorage } from "../persistence/etcd-storage.js";
import { createServer, type LeaseholdServer } from "../server.js";
import type { ServerOptions } from "../options.js";
import { EtcdClient } from "./etcd-client.js";
import { Leadership, currentLeader } from "./leadership.js";
import { Relay } from "./relay.js";

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
  const client = new EtcdClient(options.endpoints, { requestTimeoutMs: options.requestTimeoutMs });
  const host = options.server.host ?? "127.0.0.1";
  const electionPrefix = `${options.prefix}election/`;
  // The leader's address, read from etcd at most every LEADER_CACHE_MS: a leader paused (SIGSTOP)
  // still accepts TCP connections, so a failed dial alone would not tell that it changed.
  let leaderUrl: { url: Promise<string | undefined>; readAt: number } | undefined;
  const makeRelay = () =>
    new Relay({
      leaderUrl: () => {
        if (!leaderUrl || performance.now() - leaderUrl.readAt > LEADER_CACHE_MS) {
          const url = currentLeader(client, electionPrefix).then(
            (leader) => leader?.value.toString("utf8"),
            () => undefined,
          );
          leaderUrl = { url, readAt: performance.now() };
        }
        return leaderUrl.url;
      },
      onLeaderUnreachable: () => (leaderUrl = undefined),
      secret: options.server.clusterSecret,
      origins: new OriginPolicy(options.server.allowOrigins),
      maxFrameBytes: options.server.limits?.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes,
      highWaterBytes: 1024 * 1024,
      connectTimeoutMs: 2_000,
      logger,
    });
  let relay: Relay | undefined = makeRelay();
  const port = await relay.listen(host, options.server.port ?? 7070);
  const url = `ws://${host.includes(":") ? `[${host}]` : host}:${port}`;
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
        await relay?.close();
        relay = undefined;
        leaderUrl = undefined;
        const storage = new EtcdStorage({
          client,
          prefix: `${options.prefix}data/`,
          leaderKey: term.key,
          epoch: term.epoch,
          onSnapshotFailed: (error) => logger?.warn({ err: error }, "snapshot to etcd failed; the next write tries again"),
        });
        server = await createServer({ ...options.server, host, port, storage, authority: leadership });
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
    async close() {
      stopped = true;
      stopping.abort();
      await loop;
      await relay?.close();
      client.close();
    },
  };
}

/** How long a follower relays to the leader it read from etcd before reading again. */
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
  /** Deadline of each etcd request, in ms. */
  requestTimeoutMs?: number;
  /** The server the leader runs, and the listener (host, port, origins, frame size) of every role. */
  server: ServerOptions & { logger?: Logger };
}

export type GatewayRole = "follower" | "leader";

export interface Gateway {
  /** Where clients connect, whatever the role. */
  readonly url: string;
  readonly advertise: string;
  readonly role: GatewayRole;
  /** The running server while this gateway leads. */
  readonly server: LeaseholdServer | undefined;
  onRole(listener: (role: GatewayRole) => void): void;
  /** Stops campaigning, steps down if leading (clients get 1012), and closes the etcd connections. */
  close(): Promise<void>;
}
