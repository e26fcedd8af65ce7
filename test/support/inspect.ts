import { connect, type LeaseholdClient } from "@leasehold/client";
import type { ResultOf } from "@leasehold/protocol";
import { inspect, type LeaseholdServer } from "@leasehold/server";
import { defer } from "./fixtures.js";

/**
 * What tests read of a server's state: the plain data of `admin.state` (sessions, leases, every lock,
 * semaphore and election with holders and queue, counts of keys, counters and watch history), never the
 * coordinator's own maps. Read it over the wire (`inspectOver`) wherever the test talks to the server
 * anyway, so that the same checks can run against a server in another process or a cluster; in
 * process (`inspectIn`) only where a session of its own would change what is checked (per-address or
 * per-principal limits, a server whose admin loses the right mid-test).
 */
export type Inspection = ResultOf<"admin.state">;
export type InspectedEntry = Inspection["locks"][number];
export type InspectedSession = Inspection["sessions"][number];

/**
 * The server's state as an admin reads it with `admin.state`, through one client per test, URL and
 * token (opened on first use, closed after the test). The inspector's own session is left out, so that
 * counts of sessions are those of the test's clients. `adminToken` is needed on servers with authentication.
 */
export async function inspectOver(url: string, adminToken?: string): Promise<Inspection> {
  const inspector = await inspectorFor(url, adminToken);
  const state = await inspector.admin.state();
  const own = inspector.sessionId;
  return { ...state, sessions: state.sessions.filter((session) => session.session !== own) };
}

/** The same picture read in process, from `server.coordinator`, without a session of its own. */
export function inspectIn(server: LeaseholdServer): Inspection {
  return inspect(server.coordinator);
}

/** The lock or semaphore `name` (holders in grant order, waiters in queue order); undefined when nobody holds or awaits it. */
export function lockIn(state: Inspection, name: string): InspectedEntry | undefined {
  return state.locks.find((entry) => entry.name === name && entry.kind !== "election");
}

/** The election `name` (its leader as the one holder, its candidates as waiters); undefined when it has neither. */
export function electionIn(state: Inspection, name: string): InspectedEntry | undefined {
  return state.locks.find((entry) => entry.name === name && entry.kind === "election");
}

/** The session `id`, undefined once it has ended. */
export function sessionIn(state: Inspection, id: string | undefined): InspectedSession | undefined {
  return state.sessions.find((session) => session.session === id);
}

// One inspector per URL and token for the test that opened it: vi.waitFor polls every 50 ms, and a
// connection per poll would add a session (and a handshake) each time.
const inspectors = new Map<string, Promise<LeaseholdClient>>();

function inspectorFor(url: string, adminToken: string | undefined): Promise<LeaseholdClient> {
  const key = `${url}\n${adminToken ?? ""}`;
  let inspector = inspectors.get(key);
  if (!inspector) {
    inspector = connect(url, { agent: "test-inspector", ...(adminToken === undefined ? {} : { auth: adminToken }) });
    inspectors.set(key, inspector);
    const opened = inspector;
    defer(async () => {
      inspectors.delete(key);
      await (await opened.catch(() => undefined))?.close();
    });
  }
  return inspector;
}
