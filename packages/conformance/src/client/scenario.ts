import type { Driver, Sent } from "./driver.js";
import type { Arrival, Peer } from "./peer.js";
import type { Stage } from "./scripted-server.js";
import { ScriptedSession, reply, type Resync } from "./session.js";
import { ScenarioFailure } from "./verdict.js";
import { describe, type WireMap } from "../wire/codec.js";

/**
 * One client scenario: the kit plays a server's part of it and judges what the client sends, and
 * what the application reports through the driver. One file per scenario under `scenarios/`.
 */
export interface Scenario {
  /** `<area>.<behaviour>`, as `--only`/`--skip` and the report name it. */
  name: string;
  /** The PROTOCOL.md section it checks, e.g. "5 Heartbeats". */
  section: string;
  /** One sentence: what a client must do to pass. */
  checks: string;
  run(play: Play): Promise<void>;
}

/** What a scenario plays with: the connections to its URL, the driver, and notes for the report. */
export interface Play {
  stage: Stage;
  driver: Driver;
  /** Figures worth reporting even on a pass (measured latencies, what the client did). */
  note(text: string): void;
}

/** How long the kit waits for a client's prompt frame or a driver's prompt answer. Generous: CI machines are busy. */
export const PROMPT_MS = 3_000;
/** How long a reconnect may take: the client's backoff comes first. */
export const RECONNECT_MS = 8_000;

/** Tells the driver to connect, takes the connection and its `hello`, and opens a new session. */
export async function openSession(play: Play, heartbeatMs: number, baseHeartbeatMs?: number): Promise<{ session: ScriptedSession; peer: Peer }> {
  const connected = play.driver.send("connect", { url: play.stage.url });
  const peer = await play.stage.nextConnection(RECONNECT_MS, "a connection after the driver's connect command");
  const hello = await peer.next(PROMPT_MS, "hello");
  checkHello(hello.frame, undefined);
  const session = new ScriptedSession();
  peer.attach(session);
  peer.send(session.welcome(heartbeatMs, undefined, baseHeartbeatMs));
  await play.driver.ok(connected, PROMPT_MS, "connect");
  return { session, peer };
}

/** A server's pace for scenarios that are not about timing: pings every 500 ms, and a 10 s lease that no gap between frames threatens. */
export const STEADY_HEARTBEAT_MS = 500;
export const STEADY_TTL_MS = 10_000;

/** The lease id the kit grants in every scenario that has one. */
export const LEASE = 1;

/**
 * The start most scenarios share: a session pinged every `heartbeatMs` as a server would, and one
 * kept-alive lease (id `LEASE`) of `ttlMs` granted through the driver.
 */
export async function openWithLease(play: Play, heartbeatMs: number, ttlMs: number): Promise<{ session: ScriptedSession; peer: Peer; leaseHandle: string }> {
  const { session, peer } = await openSession(play, heartbeatMs);
  peer.startPinging(heartbeatMs);
  const leaseHandle = await grantLease(play, peer, session, ttlMs, LEASE);
  return { session, peer, leaseHandle };
}

/** Takes the client's reconnection and checks that its `hello` resumes `session` (section 7). */
export async function takeResume(play: Play, session: ScriptedSession): Promise<Peer> {
  const peer = await play.stage.nextConnection(RECONNECT_MS, "a reconnection to resume the session");
  const hello = await peer.next(PROMPT_MS, "a hello resuming the session");
  checkHello(hello.frame, session);
  peer.attach(session);
  return peer;
}

/** Sends a resumed `welcome`; the kit from now on admits requests above `resync.lastRequest` only. */
export function welcomeBack(peer: Peer, session: ScriptedSession, heartbeatMs: number, resync: Resync, baseHeartbeatMs?: number): void {
  session.highestRequest = resync.lastRequest;
  peer.send(session.welcome(heartbeatMs, resync, baseHeartbeatMs));
}

/**
 * The next request, checked against section 3: the expected `op`, a positive integer `id` above every
 * id the kit admits to having received, and each of `fields` as given.
 */
export async function expectRequest(peer: Peer, session: ScriptedSession, op: string, fields: WireMap, what: string): Promise<Arrival & { id: number }> {
  return checkRequest(await peer.next(PROMPT_MS, what), session, op, fields, what);
}

/** `expectRequest`'s checks, on a frame already taken. */
export function checkRequest(arrival: Arrival, session: ScriptedSession, op: string, fields: WireMap, what: string): Arrival & { id: number } {
  const { frame } = arrival;
  if (frame.op !== op) throw new ScenarioFailure(`expected ${what} (op "${op}"), got ${describe(frame)}`);
  const id = frame.id;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) throw new ScenarioFailure(`${what} has no positive integer id: ${describe(frame)}`);
  if (id <= session.highestRequest) {
    throw new ScenarioFailure(`${what} has id ${id}, not above ${session.highestRequest}, the highest the server has received (request ids must grow for the life of the session, section 3): ${describe(frame)}`);
  }
  for (const [key, value] of Object.entries(fields)) {
    if (frame[key] !== value) throw new ScenarioFailure(`${what}: expected ${key} ${describe(value)}, got ${describe(frame)}`);
  }
  session.highestRequest = id;
  return { ...arrival, id };
}

/** Has the application grant a kept-alive lease; answers it as lease `lease`. Returns the driver's handle. */
export async function grantLease(play: Play, peer: Peer, session: ScriptedSession, ttl: number, lease: number): Promise<string> {
  const sent = play.driver.send("grant", { ttl });
  const request = await expectRequest(peer, session, "lease.grant", { ttl }, `lease.grant for the driver's grant of ${ttl} ms`);
  if (request.frame.keepAlive === false) throw new ScenarioFailure(`the driver's grant asks for a kept-alive lease, but lease.grant has keepAlive false`);
  peer.send(reply(request.id, { lease, ttl, keepAlive: true }));
  await play.driver.ok(sent, PROMPT_MS, "grant");
  return sent.id;
}

/** Has the application acquire `name` (a try) and grants it with `token`. Returns the driver's handle. */
export async function acquireGranted(play: Play, peer: Peer, session: ScriptedSession, name: string, leaseHandle: string, lease: number, token: number): Promise<string> {
  const sent = play.driver.send("acquire", { name, lease: leaseHandle });
  const request = await expectRequest(peer, session, "lock.acquire", { name, lease }, `lock.acquire of "${name}"`);
  peer.send(reply(request.id, { acquired: true, token }));
  await expectAcquired(play, sent, token, `acquire "${name}"`);
  return sent.id;
}

/** The driver's answer to an acquire must be "acquired with `token`". */
export async function expectAcquired(play: Play, sent: Sent, token: number, what: string): Promise<void> {
  const ok = await play.driver.ok(sent, PROMPT_MS, what);
  if (ok.acquired !== true || ok.token !== token) throw new ScenarioFailure(`${what}: the server granted it with token ${token}, but the application saw ${describe(ok)}`);
}

function checkHello(frame: WireMap, resuming: ScriptedSession | undefined): void {
  if (frame.op !== "hello") throw new ScenarioFailure(`the first frame must be hello (section 2), got ${describe(frame)}`);
  if (frame.version !== 1) throw new ScenarioFailure(`hello must carry version 1 (section 2), got ${describe(frame)}`);
  if (frame.id !== undefined) throw new ScenarioFailure(`hello is not a request and has no id (section 2), got ${describe(frame)}`);
  const resume = frame.resume as WireMap | undefined;
  if (resuming === undefined) {
    if (resume !== undefined) throw new ScenarioFailure(`a first connection has no session to resume, yet hello carries resume: ${describe(frame)}`);
    return;
  }
  if (typeof resume !== "object" || resume === null) throw new ScenarioFailure(`a reconnection must resume the session (hello.resume, section 7), got ${describe(frame)}`);
  if (resume.session !== resuming.id || resume.secret !== resuming.secret) {
    throw new ScenarioFailure(`hello.resume must name the session and secret of the welcome (${resuming.id}), got ${describe(resume)}`);
  }
}
