/**
 * Hands each chunk a socket reads straight to its one 'data' listener (on the server ws's, or the
 * handshake's gate in front of it; on the client ws's, in front of the client's frame reader) when Node's
 * `Readable` would do exactly that with it. Node's read callback
 * (`onStreamRead`) gives every chunk to the stream's `push`, which, for a stream that flows with
 * nothing buffered, clears its reading flag, emits 'data' and queues a `nextTick` (`maybeReadMore`)
 * that calls `read(0)`, which for a TCP socket already reading does nothing. With one request in flight
 * per client that is every read. Measured (perf, 16 clients, two profiles per build, alternating): Node's
 * read path in JS (`onStreamRead` to ws's listener) and the tick queue, 7.5 / 6.8 % -> 5.1 / 3.9 % of the
 * server's CPU per uncontended lock pair, 9.3 / 6.6 % -> 5.1 / 3.9 % per put (BENCHMARKS.md, "The server's
 * path per request (round 10)"). On the client's socket, the same per reply: Node's read path in JS and
 * the tick, 3.0 % of the harness's CPU per lock pair at one client (BENCHMARKS.md, "The one-client row:
 * per wake-up costs (round 11)").
 *
 * Only that case is shortened: a chunk of bytes, the stream flowing, nothing buffered, not ended,
 * destroyed or errored, not in the middle of its own `_read` (`sync`), no decoder, no pipes, and
 * exactly one 'data' listener. Anything else (the end of the stream, a paused stream, what arrives
 * while it is paused and buffers, a second listener) goes through `Readable.prototype.push` as
 * before, so that pausing, back-pressure (the return value, which stops the handle's reads), the end
 * and close of the stream, and what a paused stream buffered coming out first, are Node's own. The
 * return value is push's (whether more may be pushed).
 *
 * `maybeReadMore`'s `read(0)` is left out: with nothing buffered and the handle reading it only sets
 * the stream's reading flag until the next push clears it, and a stream resumed after a pause calls
 * `read(0)` itself when that flag is clear (`resume_`), which starts the handle again as before.
 *
 * Installed as an own `push` of the stream, only on a TCP or TLS socket (whose `_read`, which `read(0)`
 * would call, starts the handle's reads if stopped and does nothing while it reads) whose `push` is
 * Readable's and whose state has the fields read below (`read-shortcut.socket.test.ts` fails if a Node
 * upgrade changes them). A gateway's link stream keeps Node's path. Without an import of Node's modules
 * (this package is also the browser client's), a socket is known by where its methods come from: `_read`
 * inherited from Node's `Socket` (net's, which TLS sockets inherit), `push` from Node's `Readable`.
 */
export function deliverReadsDirectly(stream: object): boolean {
  const candidate = stream as Partial<StreamInternals>;
  if (!isNodeSocket(stream) || !hasExpectedState(candidate._readableState)) return false;
  (candidate as StreamInternals).push = pushToListener;
  return true;
}

/** What the shortcut reads of a Node stream (node:internal/streams/readable, Node 20). */
interface StreamInternals {
  push(chunk: Buffer | null, encoding?: BufferEncoding): boolean;
  _readableState: ReadableStateInternals;
  /** EventEmitter's listeners: one listener is the function itself, more are an array. */
  _events: Record<string, unknown> | undefined;
}

/** The state's accessors (bits of one field in Node 20; plain fields before), and its plain fields. */
interface ReadableStateInternals {
  readonly objectMode: boolean;
  readonly flowing: boolean | null;
  readonly sync: boolean;
  readonly ended: boolean;
  readonly destroyed: boolean;
  readonly errored: unknown;
  readonly decoder: unknown;
  readonly multiAwaitDrain: boolean;
  reading: boolean;
  dataEmitted: boolean;
  readonly length: number;
  readonly highWaterMark: number;
  readonly pipes: unknown[];
  awaitDrainWriters: unknown;
}

/** Readable's own `push`, from the first socket the shortcut was installed on: what anything but the shortcut's case goes through. */
let PUSH: StreamInternals["push"] | undefined;

/**
 * A socket of Node's net or tls: its `_read` is net's `Socket.prototype._read` and its `push` is
 * `Readable.prototype.push`, both inherited (no own or subclass override), and every socket's the same.
 */
function isNodeSocket(stream: object): boolean {
  const readFrom = ownerOf(stream, "_read");
  const pushFrom = ownerOf(stream, "push");
  if (readFrom?.constructor?.name !== "Socket" || readFrom === stream || pushFrom?.constructor?.name !== "Readable") return false;
  const push = (pushFrom as { push?: unknown }).push as StreamInternals["push"];
  PUSH ??= push;
  return push === PUSH;
}

/** The object on `value`'s prototype chain that holds `key` as an own property (the value itself included). */
function ownerOf(value: object, key: string): { constructor?: { name?: unknown } } | undefined {
  for (let at: object | null = value; at !== null; at = Object.getPrototypeOf(at) as object | null) {
    if (Object.hasOwn(at, key)) return at as { constructor?: { name?: unknown } };
  }
  return undefined;
}

function hasExpectedState(state: unknown): state is ReadableStateInternals {
  if (typeof state !== "object" || state === null) return false;
  const s = state as Record<keyof ReadableStateInternals, unknown>;
  return (
    s.objectMode === false &&
    typeof s.sync === "boolean" &&
    typeof s.ended === "boolean" &&
    typeof s.destroyed === "boolean" &&
    typeof s.reading === "boolean" &&
    typeof s.dataEmitted === "boolean" &&
    typeof s.multiAwaitDrain === "boolean" &&
    typeof s.length === "number" &&
    typeof s.highWaterMark === "number" &&
    Array.isArray(s.pipes) &&
    "awaitDrainWriters" in s &&
    "decoder" in s &&
    "errored" in s &&
    "flowing" in s
  );
}

/** The stream's `push`, as the shortcut: `this` is the stream. */
function pushToListener(this: StreamInternals, chunk: Buffer | null, encoding?: BufferEncoding): boolean {
  const state = this._readableState;
  const listener = this._events?.data;
  if (
    chunk === null ||
    encoding !== undefined ||
    chunk.length === 0 ||
    typeof listener !== "function" ||
    state.flowing !== true ||
    state.length !== 0 ||
    state.sync ||
    state.ended ||
    state.destroyed ||
    state.errored !== null ||
    state.decoder !== null ||
    state.pipes.length !== 0 ||
    state.multiAwaitDrain
  ) {
    return (PUSH as StreamInternals["push"]).call(this, chunk, encoding);
  }
  // What push and addChunk do before emitting 'data' in this case.
  if (state.reading) state.reading = false;
  state.awaitDrainWriters = null;
  if (!state.dataEmitted) state.dataEmitted = true;
  (listener as (chunk: Buffer) => void).call(this, chunk);
  return !state.ended && (state.length < state.highWaterMark || state.length === 0);
}
