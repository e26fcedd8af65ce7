import type { IncomingMessage, ServerResponse } from "node:http";
import type { Admission } from "../auth/authenticator.js";
import { allows, Right } from "../auth/permissions.js";
import { METRICS_CONTENT_TYPE } from "../metrics/metrics.js";
import { send } from "./respond.js";

/** What the operator's endpoints read. */
export interface OperationsHost {
  /** The Prometheus text of every metric. */
  metricsText(): Promise<string>;
  /** Undefined when ready; otherwise why not, for the /readyz body. */
  notReady(): string | undefined;
}

/**
 * Who may scrape /metrics on the main port: with authentication on, a credential with the admin
 * right over every name, as `Authorization: Bearer <token or JWT>`. Undefined: anyone (auth off, or
 * the separate metrics listener, meant for a loopback scraper).
 */
export interface MetricsGate {
  readonly enabled: boolean;
  authenticate(credential: string): Admission | Promise<Admission>;
}

/** A commit asked for and not run after this long counts as stuck: the event loop or the disk is stalled. */
export const STUCK_COMMIT_MS = 5_000;

/**
 * Serves `/livez` (the process answers), `/readyz` (ready for traffic: see `readiness`), `/healthz`
 * (the same as /readyz, kept for the probes written before it) and `/metrics`. Returns false for
 * any other path, which the caller serves.
 */
export function createOperationsHandler(host: OperationsHost, gate: MetricsGate | undefined) {
  return (path: string, request: IncomingMessage, response: ServerResponse): boolean => {
    switch (path) {
      case "/livez":
        send(response, 200, "text/plain", "ok\n");
        return true;
      case "/readyz":
      case "/healthz": {
        const reason = host.notReady();
        if (reason === undefined) send(response, 200, "text/plain", "ok\n");
        else send(response, 503, "text/plain", `not ready: ${reason}\n`);
        return true;
      }
      case "/metrics":
        void serveMetrics(host, gate, request, response);
        return true;
      default:
        return false;
    }
  };
}

/**
 * Why the server should not be sent traffic now, or undefined when it should: storage failed (the
 * server acknowledges nothing more), a commit is stuck, or (in a cluster) no leader is known.
 */
export function readiness(commits: { readonly failure: Error | undefined; readonly pendingMs: number }, leaderKnown: () => boolean): () => string | undefined {
  return () => {
    if (commits.failure) return `storage failed (${commits.failure.message}); restart the server on the same data`;
    const pending = commits.pendingMs;
    if (pending > STUCK_COMMIT_MS) return `a commit has waited ${Math.round(pending)} ms to be written`;
    if (!leaderKnown()) return "no cluster leader is known";
    return undefined;
  };
}

async function serveMetrics(host: OperationsHost, gate: MetricsGate | undefined, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (gate?.enabled) {
    const refusal = await refuseScrape(gate, request.headers.authorization);
    if (refusal) {
      response.setHeader("www-authenticate", 'Bearer realm="leasehold metrics"');
      send(response, refusal.status, "text/plain", refusal.message);
      return;
    }
  }
  try {
    send(response, 200, METRICS_CONTENT_TYPE, await host.metricsText());
  } catch (error) {
    send(response, 500, "text/plain", `the metrics could not be collected: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

/** Undefined when the header carries an admin credential; otherwise the answer (401 or 403) that says what is missing. */
async function refuseScrape(gate: MetricsGate, header: string | undefined): Promise<{ status: number; message: string } | undefined> {
  const credential = /^Bearer\s+(\S+)$/i.exec(header ?? "")?.[1];
  if (credential === undefined) return { status: 401, message: "authentication is on: send a token with the admin right as `Authorization: Bearer <token>`, or scrape the --metrics-port listener\n" };
  const admission = await gate.authenticate(credential);
  if (!admission.ok) return { status: 401, message: `the credential was refused: ${admission.reason}\n` };
  if (!allows(admission.principal, Right.admin, "")) return { status: 403, message: `${admission.principal.name} lacks the admin right over every name, which /metrics needs\n` };
  return undefined;
}
