import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";
import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";

/**
 * gRPC unary calls to one endpoint straight over `node:http2`: one long-lived HTTP/2 session, opened
 * on the first call and again on the first call after it closed or was told to go away, and per call
 * one stream (POST of one length-prefixed message, the answer's message and its `grpc-status` in the
 * trailers). It exists for the leader's etcd transaction, one per group commit, where
 * `@grpc/grpc-js`'s per-call machinery (call object, interceptors, resolver, load balancer,
 * subchannel, metadata) and protobufjs cost the leader about 860 µs per transaction of the 1,190
 * its etcd client spent, 40 % of that after this (BENCHMARKS.md, "Cluster throughput (round 7)").
 *
 * A call is sent once and never again: whatever goes wrong after it was handed to the session (reset,
 * connection lost, deadline) rejects with a `GrpcStatusError` whose code says so, as grpc-js would,
 * and the caller decides what an unknown outcome means.
 */
export class UnaryChannel {
  readonly #authority: string;
  readonly #maxAnswerBytes: number;
  #session: ClientHttp2Session | undefined;
  /** Calls waiting on each session (one that was dropped may still finish its calls). */
  readonly #inFlight = new WeakMap<ClientHttp2Session, number>();
  #closed = false;

  /** `endpoint`: `http://host:port` or `https://host:port` (a bare `host:port` is taken as http). */
  constructor(endpoint: string, options: { maxAnswerBytes: number }) {
    this.#authority = /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
    this.#maxAnswerBytes = options.maxAnswerBytes;
  }

  /**
   * One call of `path` (`/package.Service/Method`) with one encoded request message; resolves with
   * the answer's encoded message, or rejects with a `GrpcStatusError` (a non-zero grpc-status from the
   * server, or one this side assigns: DEADLINE_EXCEEDED after `timeoutMs`, UNAVAILABLE when the
   * connection fails or is lost, INTERNAL for a reset stream or a malformed answer).
   */
  call(path: string, request: Uint8Array, timeoutMs: number): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new GrpcStatusError(Status.CANCELLED, "the channel was closed"));
    let stream: ClientHttp2Stream;
    const session = this.#open();
    try {
      stream = session.request(
        { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", "grpc-timeout": grpcTimeout(timeoutMs) },
        { endStream: false },
      );
    } catch (error) {
      this.#drop(session);
      return Promise.reject(new GrpcStatusError(Status.UNAVAILABLE, `the connection to ${this.#authority} cannot take a call: ${describe(error)}`));
    }
    this.#started(session);
    stream.end(frame(request));
    return new Promise<Buffer>((resolve, reject) => {
      const answer = new AnswerCollector(this.#maxAnswerBytes);
      let streamError: unknown;
      let settled = false;
      const settle = (outcome: Buffer | GrpcStatusError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#ended(session);
        if (outcome instanceof GrpcStatusError) reject(outcome);
        else resolve(outcome);
      };
      // Settled here, not when the cancelled stream closes: a stream still waiting for its session
      // to connect may never close, and the deadline is the caller's bound on the whole call.
      const timer = setTimeout(() => {
        settle(new GrpcStatusError(Status.DEADLINE_EXCEEDED, `Deadline exceeded after ${timeoutMs} ms`));
        stream.close(constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      stream.on("response", (headers) => answer.headers(headers));
      stream.on("trailers", (trailers) => answer.trailers(trailers));
      stream.on("data", (chunk: Buffer) => {
        if (!answer.data(chunk)) stream.close(constants.NGHTTP2_CANCEL);
      });
      stream.on("error", (error) => (streamError = error));
      stream.on("close", () => {
        if (this.#closed) answer.fail(new GrpcStatusError(Status.CANCELLED, "the channel was closed"));
        settle(answer.outcome(stream.rstCode, streamError, session.destroyed));
      });
    });
  }

  /** Ends the session; calls in flight and later calls reject (CANCELLED). */
  close(): void {
    this.#closed = true;
    this.#session?.destroy();
    this.#session = undefined;
  }

  #open(): ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = connect(this.#authority, this.#authority.startsWith("http:") ? { createConnection: socketWithoutNagle } : {});
    // Its errors reach the streams on it (each call rejects with its own); a session that fails,
    // closes or is told to go away is not used again, and the next call opens a new one.
    session.on("error", () => this.#drop(session));
    session.on("goaway", () => this.#drop(session));
    session.on("close", () => this.#drop(session));
    session.unref();
    this.#session = session;
    return session;
  }

  #drop(session: ClientHttp2Session): void {
    if (this.#session === session) this.#session = undefined;
  }

  /** The session keeps the process alive only while a call waits on it, as grpc-js's channels do. */
  #started(session: ClientHttp2Session): void {
    const calls = this.#inFlight.get(session) ?? 0;
    this.#inFlight.set(session, calls + 1);
    if (calls === 0) session.ref();
  }

  #ended(session: ClientHttp2Session): void {
    const calls = (this.#inFlight.get(session) ?? 1) - 1;
    this.#inFlight.set(session, calls);
    if (calls === 0 && !session.destroyed) session.unref();
  }
}

/** gRPC status codes (grpc/doc/statuscodes.md), those this module assigns or classifies. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/**
 * A call that did not succeed, with its gRPC status; the message reads as grpc-js's does
 * (`14 UNAVAILABLE: etcdserver: request timed out`). `transient`: the statuses etcd3 counts as
 * recoverable (a network or server fault, `isRecoverableError`), as opposed to a request refused.
 */
export class GrpcStatusError extends Error {
  override name = "GrpcStatusError";
  readonly transient: boolean;

  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${STATUS_NAMES.get(code) ?? "UNKNOWN"}: ${details}`);
    this.transient = TRANSIENT.has(code);
  }
}

const STATUS_NAMES = new Map<number, string>(Object.entries(Status).map(([name, code]) => [code, name]));

/** etcd3's recoverable errors (lib/errors.js): the classes it marks with `RecoverableError`. */
const TRANSIENT = new Set<number>([Status.CANCELLED, Status.UNKNOWN, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED, Status.ABORTED, Status.INTERNAL, Status.UNAVAILABLE]);

/**
 * What one stream brought back: the HTTP status, the message bytes (bounded), the grpc-status (from
 * the trailers, or from the headers of a trailers-only answer) and a failure of this side's own.
 */
class AnswerCollector {
  #httpStatus: number | undefined;
  #grpcStatus: IncomingHttpHeaders | undefined;
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  #failure: GrpcStatusError | undefined;

  constructor(readonly maxBytes: number) {}

  headers(headers: IncomingHttpHeaders): void {
    this.#httpStatus = Number(headers[":status"]);
    if (headers["grpc-status"] !== undefined) this.#grpcStatus = headers;
  }

  trailers(trailers: IncomingHttpHeaders): void {
    this.#grpcStatus = trailers;
  }

  /** False once the answer is over its bound (the stream is then cancelled). */
  data(chunk: Buffer): boolean {
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes + FRAME_HEAD_BYTES) {
      this.fail(new GrpcStatusError(Status.RESOURCE_EXHAUSTED, `an answer of more than ${this.maxBytes} bytes`));
      return false;
    }
    this.#chunks.push(chunk);
    return true;
  }

  /** The first failure wins: an answer over its bound stays that though the cancel then resets the stream. */
  fail(error: GrpcStatusError): void {
    this.#failure ??= error;
  }

  outcome(rstCode: number | undefined, streamError: unknown, sessionGone: boolean): Buffer | GrpcStatusError {
    if (this.#failure) return this.#failure;
    if (this.#grpcStatus) return this.#fromStatus(this.#grpcStatus);
    if (this.#httpStatus !== undefined && this.#httpStatus !== 200) return new GrpcStatusError(httpToGrpc(this.#httpStatus), `Received HTTP status code ${this.#httpStatus}`);
    // Node reports the peer's RST_STREAM as an ERR_HTTP2_STREAM_ERROR; any other error is the
    // connection's, and a connection lost without one closes its streams with CANCEL, no error.
    const peerReset = streamError === undefined ? !sessionGone : (streamError as { code?: unknown }).code === "ERR_HTTP2_STREAM_ERROR";
    if (peerReset && rstCode !== undefined && rstCode !== constants.NGHTTP2_NO_ERROR) {
      return new GrpcStatusError(rstCode === constants.NGHTTP2_REFUSED_STREAM ? Status.UNAVAILABLE : Status.INTERNAL, `Received RST_STREAM with code ${rstCode}`);
    }
    if (streamError !== undefined || sessionGone) return new GrpcStatusError(Status.UNAVAILABLE, `Connection dropped${streamError === undefined ? "" : `: ${describe(streamError)}`}`);
    return new GrpcStatusError(Status.UNKNOWN, "the stream ended without a grpc-status");
  }

  #fromStatus(headers: IncomingHttpHeaders): Buffer | GrpcStatusError {
    const code = Number(headers["grpc-status"]);
    if (!Number.isInteger(code)) return new GrpcStatusError(Status.UNKNOWN, `a grpc-status of ${String(headers["grpc-status"])}`);
    if (code !== Status.OK) return new GrpcStatusError(code, percentDecoded(headers["grpc-message"]));
    return this.#message();
  }

  /** The one length-prefixed message of a unary answer (uncompressed: no grpc-accept-encoding was offered). */
  #message(): Buffer | GrpcStatusError {
    const body = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#bytes);
    if (body.length < FRAME_HEAD_BYTES) return new GrpcStatusError(Status.INTERNAL, `an answer of ${body.length} bytes, shorter than its 5-byte head`);
    const length = body.readUInt32BE(1);
    if (body[0] !== 0) return new GrpcStatusError(Status.INTERNAL, `a compressed answer (flag ${body[0]}) to a request that offered no compression`);
    if (body.length !== FRAME_HEAD_BYTES + length) return new GrpcStatusError(Status.INTERNAL, `an answer of ${body.length} bytes whose head announces ${length} + 5`);
    return body.subarray(FRAME_HEAD_BYTES);
  }
}

/**
 * A plain-TCP session's socket with Nagle's algorithm off, as grpc-js has it. One transaction at a
 * time is one socket write either way (measured: 1,585 to 3,111 µs a call with it off, 1,680 to
 * 2,477 µs with it on, the same within the noise); off, a request written while an earlier small
 * frame is unacknowledged (a WINDOW_UPDATE, a second write in flight) cannot wait for the peer's
 * delayed ack. (An https endpoint gets Node's own TLS socket.)
 */
function socketWithoutNagle(authority: URL): Duplex {
  const port = Number(authority.port || 80);
  return netConnect({ host: authority.hostname.replace(/^\[|\]$/g, ""), port, noDelay: true });
}

/** A gRPC message's head: a compressed flag and a big-endian u32 length. */
const FRAME_HEAD_BYTES = 5;

function frame(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(FRAME_HEAD_BYTES + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, FRAME_HEAD_BYTES);
  return framed;
}

/** grpc-timeout: at most 8 digits and a unit; milliseconds up to 27 hours. */
function grpcTimeout(ms: number): string {
  return `${Math.min(99_999_999, Math.max(1, Math.ceil(ms)))}m`;
}

/** The gRPC status an HTTP status stands for (grpc/doc/http-grpc-status-mapping.md). */
function httpToGrpc(status: number): number {
  switch (status) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

/** grpc-message is percent-encoded; a malformed one is shown as sent. */
function percentDecoded(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(",") : (value ?? "");
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
