import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServerOptions } from "../options.js";
import { send } from "../http/respond.js";
import { createHttpHandler, defaultBundlePath, defaultPageScriptsPath, type OperationsHandler } from "../http/routes.js";

/**
 * What a follower gateway answers over plain HTTP, so that a browser, a probe or a load balancer may use
 * any gateway (issue 12: followers "accept WebSocket connections and serve the dashboard"):
 * - the same pages, page scripts and browser bundle as the leader (routes.ts); their WebSockets come back
 *   to this listener and are relayed to the leader like any client's;
 * - `/livez` 200; `/readyz` and `/healthz` 200 while etcd names a leader to relay to, else 503 (a load
 *   balancer then sends nobody here during an election, as it would not to a leader that lost quorum);
 * - `/metrics` 503 that names the leader: a follower's process holds none of the cluster's state, and a
 *   scrape of it answered as if it did would report an empty cluster.
 */
export function followerHttpHandler(server: Pick<ServerOptions, "browserBundlePath" | "pageScriptsPath">, leaderUrl: () => Promise<string | undefined>): (request: IncomingMessage, response: ServerResponse) => void {
  const operations: OperationsHandler = (path, _request, response) => {
    switch (path) {
      case "/livez":
        send(response, 200, "text/plain", "ok\n");
        return true;
      case "/readyz":
      case "/healthz":
        void leaderUrl().then((leader) => {
          if (leader === undefined) send(response, 503, "text/plain", "not ready: no cluster leader is known (an election is under way, or etcd has no quorum)\n");
          else send(response, 200, "text/plain", "ok\n");
        });
        return true;
      case "/metrics":
        void leaderUrl().then((leader) => send(response, 503, "text/plain", `this gateway follows and holds none of the cluster's state; scrape /metrics at the leader (${leader ?? "none is known now"})\n`));
        return true;
      default:
        return false;
    }
  };
  return createHttpHandler(server.browserBundlePath ?? defaultBundlePath(), server.pageScriptsPath ?? defaultPageScriptsPath(), operations);
}
