/**
 * Error codes carried by `error` messages (and by the client's error classes).
 * Strings on the wire, so that a log line or a packet capture explains itself.
 */
export const ErrorCode = {
  /** The frame decoded but is not a valid message: wrong types, missing fields. */
  BAD_REQUEST: "BAD_REQUEST",
  /** The `op` field names no operation this server knows. */
  UNKNOWN_OP: "UNKNOWN_OP",
  /** A number is outside its allowed range (TTL below the minimum, a wait that is too long). */
  OUT_OF_RANGE: "OUT_OF_RANGE",
  /** The request needs a completed handshake, or came twice (a second `hello`). */
  HANDSHAKE_REQUIRED: "HANDSHAKE_REQUIRED",
  /** The client's protocol version is not supported; the reply lists the supported ones. */
  UNSUPPORTED_VERSION: "UNSUPPORTED_VERSION",
  /** No live lease has this id (it never existed, expired, or was revoked). */
  LEASE_NOT_FOUND: "LEASE_NOT_FOUND",
  /** The lease belongs to another session; only its own session may use, renew or revoke it. */
  LEASE_NOT_OWNED: "LEASE_NOT_OWNED",
  /** A configured limit was reached (leases per session or principal, waiters per lock, sessions, keys or counters per principal, ...). */
  LIMIT_EXCEEDED: "LIMIT_EXCEEDED",
  /**
   * A write would grow the stored data past a byte quota: the principal's (`maxBytesPerPrincipal`) or the
   * server's (`--max-data-bytes`). Nothing was changed; deletes, reads and writes that do not grow the data go on.
   */
  QUOTA_EXCEEDED: "QUOTA_EXCEEDED",
  /** A pending wait was cancelled by the client's `cancel`. */
  CANCELLED: "CANCELLED",
  /** A fenced write named a lock that is not held right now with exactly that token. */
  FENCE_FAILED: "FENCE_FAILED",
  /** A compare-and-set write found another revision than the one it expected. */
  REVISION_MISMATCH: "REVISION_MISMATCH",
  /** A semaphore was asked for with a limit other than the one it already has. */
  LIMIT_MISMATCH: "LIMIT_MISMATCH",
  /** A lock or semaphore was asked for in a mode that does not match the name's kind. */
  MODE_MISMATCH: "MODE_MISMATCH",
  /** A counter change would leave the safe-integer range. */
  COUNTER_OVERFLOW: "COUNTER_OVERFLOW",
  /** A watch fell too far behind and was dropped; watch again from its last revision. */
  WATCH_OVERFLOW: "WATCH_OVERFLOW",
  /** The revision a watch asked to start from has been compacted away. */
  COMPACTED: "COMPACTED",
  /** Authentication is needed, or the credential was refused. */
  UNAUTHENTICATED: "UNAUTHENTICATED",
  /** The credential does not allow this operation on this name. */
  PERMISSION_DENIED: "PERMISSION_DENIED",
  /** Too many requests; slow down and retry. */
  RATE_LIMITED: "RATE_LIMITED",
  /** The server is shutting down; reconnect and resume. */
  SHUTTING_DOWN: "SHUTTING_DOWN",
  /** A bug or a storage failure on the server; the request had no effect. */
  INTERNAL: "INTERNAL",

  // Raised by clients, never sent by the server.
  /** The client has no open connection and cannot send. */
  NOT_CONNECTED: "NOT_CONNECTED",
  /** The connection dropped after the request was sent and before its reply: it may or may not have taken effect. */
  OUTCOME_UNKNOWN: "OUTCOME_UNKNOWN",
  /** A client-side timeout elapsed. */
  TIMEOUT: "TIMEOUT",
  /** The session could not be resumed; everything it held is gone. */
  SESSION_EXPIRED: "SESSION_EXPIRED",
  /** The lease ended (expired or revoked), so a lock bound to it is lost. */
  LEASE_EXPIRED: "LEASE_EXPIRED",
  /** A held lock was lost for another reason (force-released by an admin). */
  LOCK_LOST: "LOCK_LOST",
  /** A held lock was taken by another client's `steal` (`lock.lost` with reason "stolen"). */
  LOCK_STOLEN: "LOCK_STOLEN",
  /** The handle was released by its owner. */
  RELEASED: "RELEASED",
  /** The client was closed. */
  CLIENT_CLOSED: "CLIENT_CLOSED",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes the server uses (4000-4999 is the range RFC 6455 leaves to applications),
 * next to the standard ones it relies on. A client treats every close as a dropped connection and
 * tries to resume, except where noted.
 */
export const CloseCode = {
  /** Standard: a clean close after `bye`. The session is gone; do not reconnect. */
  NORMAL: 1000,
  /** Standard: the server is restarting or shutting down gracefully. Reconnect and resume (a durable server keeps every session). */
  SERVICE_RESTART: 1012,
  /**
   * Standard: a frame exceeded the maximum frame size, or, before the handshake completed, the
   * connection sent more than the handshake's bytes or frames (see PROTOCOL.md, Limits). Reconnect and resume.
   */
  MESSAGE_TOO_BIG: 1009,
  /** Standard: the server's storage failed; it acknowledges nothing more and must be restarted. */
  INTERNAL_ERROR: 1011,
  /** The stream cannot be trusted: a frame that is not msgpack, text frames, or an invalid handshake. */
  PROTOCOL_ERROR: 4000,
  /** The client's protocol version is not supported. Do not reconnect with the same version. */
  UNSUPPORTED_VERSION: 4001,
  /** No `hello` arrived within the handshake deadline. */
  HANDSHAKE_TIMEOUT: 4002,
  /** Authentication failed. Do not reconnect with the same credential. */
  UNAUTHENTICATED: 4003,
  /** The server dropped the session (silent for too long). Reconnecting starts a new session. */
  SESSION_EXPIRED: 4004,
  /** Too many sessions on the server or from this address. Retry later. */
  TOO_MANY_SESSIONS: 4005,
  /** The client did not read its data fast enough and its unsent backlog passed the limit. */
  SLOW_CONSUMER: 4006,
  /** Another connection resumed this session; this one is no longer attached to it. */
  SESSION_TAKEN_OVER: 4007,
  /**
   * The session went on sending far past its rate limit after being answered RATE_LIMITED (as many
   * frames again as its budget). Reconnect after a backoff and resume: the session is kept, and its
   * budget with it.
   */
  RATE_LIMITED: 4008,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
