import WebSocket from "isomorphic-ws";
import {
  CloseCode,
  ErrorCode,
  HEARTBEAT_DEFAULTS,
  PROTOCOL_VERSION,
  heartbeatInterval,
  systemClock,
  type Clock,
  type Hello,
  type Timer,
  type Resync,
  type ServerMessage,
  type Value,
  type Welcome,
} from "@leasehold/protocol";
import { Admin } from "./admin.js";
import { Calls } from "./calls.js";
import { settleInFlight } from "./resume-settlement.js";
import {
  ConnectionError,
  LeaseExpiredError,
  LockLostError,
  SessionExpiredError,
  errorFromCode,
  type LeaseholdError,
} from "./errors.js";
import { Counters } from "./counters.js";
import { Elections } from "./elections.js";
import { KeyValue, type DeleteOptions, type Entry, type ListItem, type PutOptions } from "./kv.js";
import { Lease, Leases, type LeaseBound } from "./leases.js";
import { Liveness } from "./liveness.js";
import { Locks } from "./locks.js";
import { Semaphores } from "./semaphores.js";
import { Subscriptions } from "./subscriptions.js";
import type { Watch, WatchOptions } from "./watch.js";
import { Transport, type ConnectionState, type WebSocketConstructor } from "./transport.js";
import { DEFAULT_BACKOFF, type Backoff } from "./backoff.js";
import { trustingCa, type TrustedCa } from "./tls.js";
import { pageClock, WorkerClock } from "./worker-clock.js";
import { asyncDispose } from "./dispose.js";

export interface ConnectOptions {
  /** The WebSocket implementation; default: the browser's, or `ws` in Node (through isomorphic-ws). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect and resume after a dropped connection. Default true. */
  autoReconnect?: boolean;
  /** The reconnect backoff: full jitter under a cap of `baseMs` (100) doubling up to `maxMs` (5000); `random` for tests. */
  reconnectBackoff?: Partial<Backoff>;
  /** How long a dial may take, from the socket's creation to the server's welcome, before the next is tried. Default 10000 ms. */
  handshakeTimeoutMs?: number;
  /**
   * Time source; tests pass a FakeClock. Default: in a page, timers kept by a dedicated Worker,
   * which a hidden tab does not throttle (see `throttled`); elsewhere the runtime's own.
   */
  clock?: Clock;
  /** A credential (static token or JWT) for servers that require authentication. */
  auth?: string;
  /** Node only: certificate authorities to trust for `wss://` (PEM), e.g. a self-signed CA. Browsers use their trust store. */
  ca?: TrustedCa;
  /** Names this client in server logs and the dashboard. */
  agent?: string;
  /** TTL of the lease that `locks.request` uses when given none. Default 10000 ms. */
  sessionLeaseTtlMs?: number;
  /**
   * In browsers: give everything up at once on `pagehide` and `freeze` (handles first, then the
   * goodbye, so that leadership moves without waiting for a TTL, and never before this page knows),
   * reconnect on `pageshow` from the back/forward cache, on `resume` and on `online`, and check every
   * deadline on `visibilitychange`, `pageshow`, `resume`, `online` and `offline`. Default true.
   */
  pageLifecycle?: boolean;
}

export type ClientEventName = "disconnected" | "reconnected" | "expired" | "closed" | "throttled" | "statechange";

/**
 * A connection to a leasehold server and the session it carries. Events (through
 * `addEventListener`, as in browsers):
 * - `disconnected`: the connection dropped; the client is reconnecting and everything it holds stays valid until its own deadlines.
 * - `reconnected`: the session was resumed; leases, locks and queued waits carry on unchanged.
 * - `expired`: the session could not be resumed; every handle's signal has aborted. The client goes on with a new session.
 * - `closed`: the client is closed for good.
 * - `throttled`: the timer worker could not start (`detail.reason`, also in `throttled`), so deadlines
 *   run on the page's own timers, which a hidden tab delays; a console warning says so too.
 * - `statechange`: `state` changed (`detail` is the new state).
 *
 * Given several URLs (gateways of one cluster), it dials them in order and moves on to the next
 * after a failed dial or a lost connection, resuming its session there.
 */
export class LeaseholdClient extends EventTarget {
  /** Every URL this client dials, in order. */
  readonly urls: readonly string[];
  /** The first of `urls`. */
  readonly url: string;
  readonly leases: Leases;
  readonly locks: Locks;
  readonly admin: Admin;
  readonly semaphores: Semaphores;
  readonly counters: Counters;
  readonly elections: Elections;
  readonly #kv: KeyValue;
  readonly #subscriptions: Subscriptions;
  readonly #transport: Transport;
  readonly #calls: Calls;
  readonly #liveness: Liveness;
  readonly #leaseRegistry = new Map<number, Lease>();
  /** Locks, semaphore slots and election terms by token (tokens are unique across all three). */
  readonly #locksByToken = new Map<number, LeaseBound>();
  #session: { id: string; secret: string } | undefined;
  #heartbeatMs: number = HEARTBEAT_DEFAULTS.heartbeatMs;
  #helloSentAt = 0;
  /** The last error the server sent about the stream itself (no request id): it explains a close 4000. */
  #streamError: LeaseholdError | undefined;
  /** The server closed the last connection with 4000 over a frame whose request id it could not read; this is why. */
  #refusedFrame: LeaseholdError | undefined;
  #closed = false;
  /** Gave everything up on `pagehide` or `freeze`; `wake()` starts a new session. */
  #suspended = false;
  #detachPageLifecycle: (() => void) | undefined;
  #stopWatchingClock: (() => void) | undefined;
  #throttled: string | undefined;
  readonly #clock: Clock;

  constructor(
    urls: string | readonly string[],
    readonly options: ConnectOptions = {},
  ) {
    super();
    this.urls = typeof urls === "string" ? [urls] : [...urls];
    if (this.urls[0] === undefined) throw new TypeError("connect() needs at least one URL, e.g. ws://127.0.0.1:7070");
    this.url = this.urls[0];
    const clock = options.clock ?? pageClock() ?? systemClock;
    this.#clock = clock;
    if (clock instanceof WorkerClock) {
      this.#stopWatchingClock = clock.onFailure((reason) => {
        this.#throttled = reason;
        this.dispatchEvent(new CustomEvent("throttled", { detail: { reason } }));
      });
    }
    this.#liveness = new Liveness(clock);
    this.#transport = new Transport(
      {
        urls: this.urls,
        WebSocketImpl: withCa(options.WebSocket ?? (WebSocket as unknown as WebSocketConstructor), options.ca),
        clock,
        reconnect: options.autoReconnect ?? true,
        timing: {
          backoff: { ...DEFAULT_BACKOFF, ...options.reconnectBackoff },
          ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
        },
      },
      {
        hello: () => this.#hello(),
        welcomed: (welcome) => this.#onWelcome(welcome),
        message: (message) => this.#onMessage(message),
        down: (code, reason, final) => this.#onDown(code, reason, final),
        maxReconnectDelay: () => this.#maxReconnectDelay(),
        linkFailed: () => this.#liveness.check(),
        stateChanged: (state) => this.dispatchEvent(new CustomEvent("statechange", { detail: state })),
      },
    );
    this.#calls = new Calls({
      send: (message) => this.#transport.send(message),
      now: () => clock.now(),
      heardAt: (sentAt) => this.#liveness.heard(sentAt),
    });
    this.leases = new Leases(this.#calls, this.#liveness, this.#leaseRegistry, () => this.#leasesChanged(), options.sessionLeaseTtlMs ?? 10_000);
    this.locks = new Locks(this.#calls, this.#leaseRegistry, this.#locksByToken, () => this.leases.sessionLease());
    this.semaphores = new Semaphores(this.locks);
    this.counters = new Counters(this.#calls);
    this.#subscriptions = new Subscriptions(this.#calls, this);
    this.admin = new Admin(this.#calls, this.#subscriptions);
    this.#kv = new KeyValue(this.#calls, this.#subscriptions);
    this.elections = new Elections(this.#calls, this.#leaseRegistry, this.#locksByToken, this.#subscriptions);
    if (options.pageLifecycle ?? true) this.#detachPageLifecycle = attachPageLifecycle(this, () => this.#liveness.check());
  }

  /**
   * Why the client's deadlines run on the page's own, throttled timers (the timer worker could not
   * start, e.g. under a Content-Security-Policy without `worker-src blob:`), or undefined.
   */
  get throttled(): string | undefined {
    return this.#throttled;
  }

  /** The server's id for this client's current session. */
  get sessionId(): string | undefined {
    return this.#session?.id;
  }

  get connected(): boolean {
    return this.#transport.isOpen;
  }

  /** The connection: `idle`, `connecting`, `open`, `reconnecting` or `closed`, with what the client knows of each (see `ConnectionState`). */
  get state(): ConnectionState {
    return this.#transport.state;
  }

  // Keys and values (see kv.ts)

  /** Writes `value` under `key`; returns the revision of the change. See `PutOptions` for leases, compare-and-set and fences. */
  put(key: string, value: Value, options?: PutOptions): Promise<{ revision: number }> {
    return this.#kv.put(key, value, options);
  }

  /** The key's value and revision (and lease, if bound to one), or null. */
  get(key: string): Promise<Entry | null> {
    return this.#kv.get(key);
  }

  delete(key: string, options?: DeleteOptions): Promise<{ deleted: boolean; revision: number }> {
    return this.#kv.delete(key, options);
  }

  /** Every key under `prefix`, in key order. */
  list(prefix: string): Promise<ListItem[]> {
    return this.#kv.list(prefix);
  }

  /** Every change under `prefix`, in revision order, exactly once, also across reconnects. */
  watch(prefix: string, options?: WatchOptions): Watch {
    return this.#kv.watch(prefix, options);
  }

  /**
   * Opens the first connection. `connect()` calls it for you. A second call while the first is
   * dialling waits for the same dial; a call while connected resolves at once.
   */
  async open(): Promise<this> {
    if (this.#closed) throw new ConnectionError(ErrorCode.CLIENT_CLOSED, "the client is closed; connect again with a new client");
    await this.#transport.start();
    return this;
  }

  /**
   * Closes cleanly: the server releases this session's leases at once (waiters are granted
   * immediately, without waiting for a TTL), then the socket closes.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    const closed = new ConnectionError(ErrorCode.CLIENT_CLOSED, "the client was closed");
    // Handles are lost before the bye goes out: the server hands the locks on as soon as it reads it.
    this.#loseHandles(() => closed);
    if (this.#transport.isOpen) {
      const bye = this.#calls.call("bye", {}).result;
      let timer: Timer | undefined;
      await Promise.race([bye.catch(() => {}), new Promise<void>((resolve) => (timer = this.#clock.setTimer(BYE_TIMEOUT_MS, resolve)))]);
      timer?.cancel();
    }
    this.#shutDown(closed);
    this.#transport.close(CloseCode.NORMAL, "bye");
  }

  /** `await using client = await connect(url)` closes the client at the end of the block. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Gives everything up without waiting (the page is going away, into the back/forward cache, or
   * being frozen): every handle's signal aborts, then the goodbye goes out and the server releases
   * this session's leases at once, and `expired` fires. `wake()` connects again with a new session.
   */
  suspend(): void {
    if (this.#closed || this.#suspended) return;
    this.#suspended = true;
    const reason = () =>
      new SessionExpiredError(ErrorCode.SESSION_EXPIRED, "the client was suspended (its page went away or was frozen), and gave up everything it held");
    // Handles are lost before the bye goes out, as in close(): the server hands the locks on as soon
    // as it reads it, and measured otherwise, the new holder was granted up to 7 ms before the old
    // page's signal aborted (5 of 30 runs).
    this.#loseHandles(reason);
    if (this.#transport.isOpen) void this.#calls.call("bye", {}).result.catch(() => {});
    this.#transport.close(CloseCode.NORMAL, "suspended");
    this.#session = undefined;
    this.#expire(reason);
  }

  /** Reconnects now: after `suspend()`, or to cut a reconnect backoff short when the network is back. */
  wake(): void {
    if (this.#closed) return;
    this.#suspended = false;
    this.#transport.wake();
  }

  /** Cuts the connection as a network failure would, without saying goodbye. For tests and diagnostics. */
  dropConnection(): void {
    this.#transport.drop("dropped by the application");
  }

  // Wiring

  #hello(): Hello {
    this.#helloSentAt = this.#liveness.clock.now();
    return {
      op: "hello",
      version: PROTOCOL_VERSION,
      resume: this.#session ? { session: this.#session.id, secret: this.#session.secret } : undefined,
      auth: this.options.auth,
      agent: this.options.agent ?? "@leasehold/client",
    };
  }

  #onWelcome(welcome: Welcome): void {
    const first = this.#session === undefined;
    this.#session = { id: welcome.session, secret: welcome.secret };
    // The silence rule rests on the session's base interval (PROTOCOL.md section 5). A server that
    // announces it is right every time: the process that resumes a session (after a restart with other
    // flags, or another cluster member) may not have the base of the one that created it. From an older
    // server, a new session's interval is the base; a resumed one's is already shortened by its leases,
    // and taking it as the base would expect pings faster than the server sends them once those end.
    if (welcome.baseHeartbeat !== undefined) this.#heartbeatMs = welcome.baseHeartbeat;
    else if (!welcome.resumed) this.#heartbeatMs = welcome.heartbeat;
    this.#leasesChanged();
    if (first) {
      this.#calls.flush();
      return;
    }
    if (welcome.resumed && welcome.resync) {
      // The server heard our hello, and holds the session: settle what was missed while away.
      this.#liveness.heard(this.#helloSentAt);
      this.#resync(welcome.resync);
      // After the re-sends: a lease given up here sends a revoke, a new request.
      this.#liveness.check();
      this.dispatchEvent(new Event("reconnected"));
      return;
    }
    this.#expire();
    this.#calls.flush();
  }

  #onMessage(message: ServerMessage): void {
    // Deadlines first: after a pause, a message may be handled before the timer that was due.
    this.#liveness.checkDue();
    switch (message.type) {
      case "reply":
        this.#calls.settleReply(message.id, message.result);
        return;
      case "error":
        if (message.id !== undefined) this.#calls.settleError(message.id, errorFromCode(message.code, message.message));
        else this.#streamError = errorFromCode(message.code, `the server refused a frame and closed the connection: ${message.message}`);
        return;
      case "ping":
        this.#liveness.pongSent(message.seq);
        this.#liveness.pongAcknowledged(message.ack);
        return;
      case "lease.ended": {
        // A reason this client does not know (a later server's) ends the lease all the same (PROTOCOL.md section 2).
        const reason =
          message.reason === "expired" ? `lease ${message.lease} expired on the server`
          : message.reason === "revoked" ? `lease ${message.lease} was revoked by an administrator`
          : `lease ${message.lease} ended on the server (${message.reason})`;
        this.#leaseRegistry.get(message.lease)?.end(new LeaseExpiredError(ErrorCode.LEASE_EXPIRED, reason));
        return;
      }
      case "lock.lost":
        // Any reason but "stolen" (including one this client does not know) is a plain loss (PROTOCOL.md section 2).
        this.#locksByToken
          .get(message.token)
          ?.lose(
            message.reason === "stolen"
              ? new LockLostError(ErrorCode.LOCK_STOLEN, `"${message.name}" was stolen by another client (locks.request with steal)`)
              : new LockLostError(ErrorCode.LOCK_LOST, `"${message.name}" was taken away (${message.reason})`),
          );
        return;
      case "watch.events":
      case "watch.closed":
      case "election.changed":
      case "admin.update":
        this.#subscriptions.route(message);
        return;
      case "welcome":
        return;
    }
  }

  #onDown(code: number, reason: string, final: boolean): void {
    // A refusal that named its request has settled it already; one that could not is resolved at the resume.
    this.#refusedFrame = code === CloseCode.PROTOCOL_ERROR ? this.#streamError : undefined;
    this.#streamError = undefined;
    if (final) {
      this.#shutDown(new ConnectionError(ErrorCode.CLIENT_CLOSED, `the connection closed (${code} ${reason})`.trim()));
      return;
    }
    this.dispatchEvent(new CustomEvent("disconnected", { detail: { code, reason } }));
  }

  /** Reconciles local handles with what the server still holds after a resume. */
  #resync(resync: Resync): void {
    const serverLeases = new Set(resync.leases.map((lease) => lease.lease));
    const heldTokens = new Set(resync.holds.map((hold) => hold.token));
    // First, before anything new is sent: requests the server never received go out again in id
    // order (the server refuses an id below one it has seen), and those it received are settled.
    const refused = this.#refusedFrame;
    this.#refusedFrame = undefined;
    this.#calls.resume((inFlight) => settleInFlight(inFlight, resync, refused));
    for (const lease of [...this.#leaseRegistry.values()]) {
      if (!serverLeases.has(lease.id)) lease.end(new LeaseExpiredError(ErrorCode.LEASE_EXPIRED, `lease ${lease.id} ended while the client was disconnected`));
    }
    for (const orphan of serverLeases) {
      // Granted, but the reply was lost with the connection: nobody can use it, so give it back.
      if (!this.#leaseRegistry.has(orphan)) void this.#calls.call("lease.revoke", { lease: orphan }).result.catch(() => {});
    }
    for (const [token, lock] of [...this.#locksByToken]) {
      if (!heldTokens.has(token)) lock.lose(new LockLostError(ErrorCode.LOCK_LOST, `"${lock.name}" was lost while the client was disconnected`));
    }
  }

  /** The session is gone: every handle is lost, every pending request fails, and `expired` fires. */
  #expire(
    reason: () => LeaseholdError = () => new SessionExpiredError(ErrorCode.SESSION_EXPIRED, "the session expired on the server; everything it held is gone"),
  ): void {
    this.#loseEverything(reason);
    this.dispatchEvent(new Event("expired"));
  }

  #shutDown(error: LeaseholdError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detachPageLifecycle?.();
    this.#stopWatchingClock?.();
    this.#loseEverything(() => error);
    this.#calls.close(() => new ConnectionError(ErrorCode.CLIENT_CLOSED, "the client is closed; connect again to make requests"));
    this.#liveness.stop();
    this.dispatchEvent(new Event("closed"));
  }

  #loseEverything(reason: () => LeaseholdError): void {
    this.#loseHandles(reason);
    this.#calls.failAll(reason);
  }

  /** Every lease, lock, slot and term handle is lost (their signals abort); requests in flight go on. */
  #loseHandles(reason: () => LeaseholdError): void {
    for (const lease of [...this.#leaseRegistry.values()]) lease.end(reason());
    for (const lock of [...this.#locksByToken.values()]) lock.lose(reason());
  }

  /** A quarter of the time left before the first lease lapses, so that several tries fit before it does. */
  #maxReconnectDelay(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const lease of this.#leaseRegistry.values()) earliest = Math.min(earliest, lease.deadline());
    return Math.max(0, (earliest - this.#liveness.clock.now()) / 4);
  }

  /** The server pings by the heartbeat rule, which a change of leases may move; the silence watchdog follows suit. */
  #leasesChanged(): void {
    this.#transport.expectPingsEvery(heartbeatInterval(this.#heartbeatMs, keptAliveTtls(this.#leaseRegistry.values())));
  }
}

/**
 * Wires a client to the page's lifecycle events, where there is a page. Returns the undo.
 * `checkDeadlines` runs first in every handler that may follow unseen time (a thaw, a tab shown
 * again, the network back or gone): the page's first look after it sees the truth.
 */
function attachPageLifecycle(client: LeaseholdClient, checkDeadlines: () => void): (() => void) | undefined {
  const page = globalThis as unknown as Partial<Pick<Window, "addEventListener" | "removeEventListener" | "document">>;
  if (typeof page.addEventListener !== "function" || typeof page.removeEventListener !== "function" || page.document === undefined) return undefined;
  const document = page.document;
  // A frozen page cannot act on a loss: it gives everything up rather than hold it while it cannot.
  const onHideOrFreeze = () => client.suspend();
  const onShow = (event: Event) => {
    checkDeadlines();
    if ((event as PageTransitionEvent).persisted) client.wake();
  };
  const onResumeOrOnline = () => {
    checkDeadlines();
    client.wake();
  };
  const windowListeners: [string, (event: Event) => void][] = [
    ["pagehide", onHideOrFreeze],
    ["pageshow", onShow],
    ["online", onResumeOrOnline],
    ["offline", checkDeadlines],
  ];
  const documentListeners: [string, (event: Event) => void][] = [
    ["freeze", onHideOrFreeze],
    ["resume", onResumeOrOnline],
    ["visibilitychange", checkDeadlines],
  ];
  for (const [type, listener] of windowListeners) page.addEventListener(type, listener);
  for (const [type, listener] of documentListeners) document.addEventListener(type, listener);
  return () => {
    for (const [type, listener] of windowListeners) page.removeEventListener?.(type, listener);
    for (const [type, listener] of documentListeners) document.removeEventListener(type, listener);
  };
}

/**
 * Connects to a leasehold server and opens a session. Given several URLs (gateways of one cluster),
 * tries each in order until one answers, and later moves on to the next whenever a connection is lost.
 */
export async function connect(urls: string | readonly string[], options: ConnectOptions = {}): Promise<LeaseholdClient> {
  return new LeaseholdClient(urls, options).open();
}

function withCa(WebSocketImpl: WebSocketConstructor, ca: TrustedCa | undefined): WebSocketConstructor {
  return ca === undefined ? WebSocketImpl : trustingCa(WebSocketImpl, ca);
}

/** How long `close()` waits for the server to acknowledge its `bye` before closing the socket anyway. */
const BYE_TIMEOUT_MS = 2_000;

/** The TTLs of the leases the server keeps alive by heartbeats (the heartbeat rule's input). */
function* keptAliveTtls(leases: Iterable<Lease>): Iterable<number> {
  for (const lease of leases) if (lease.keepAlive) yield lease.ttlMs;
}
