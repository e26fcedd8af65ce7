import { ErrorCode } from "@leasehold/protocol";

/** Every error the client raises or passes on from the server carries a code from the protocol's table. */
export class LeaseholdError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The request was malformed or out of range; fix the call. */
export class BadRequestError extends LeaseholdError {}
/** The lease does not exist, has ended, or belongs to another session. */
export class LeaseNotFoundError extends LeaseholdError {}
/** A lease ended (expired or revoked); what was bound to it is lost. The reason of an aborted `lock.signal`. */
export class LeaseExpiredError extends LeaseholdError {}
/** A held lock was taken away (force-released by an admin). The reason of an aborted `lock.signal`. */
export class LockLostError extends LeaseholdError {}
/** The handle was released by its owner. The reason of `lock.signal` after `release()`. */
export class ReleasedError extends LeaseholdError {}
/** A fenced write was refused: the lock is no longer held with that token. */
export class FenceError extends LeaseholdError {}
/** A compare-and-set or mode/limit check failed against the current state. */
export class ConflictError extends LeaseholdError {}
/** A configured limit or rate was exceeded. */
export class LimitExceededError extends LeaseholdError {}
/** Not authenticated, or not allowed. */
export class PermissionError extends LeaseholdError {}
/** The connection is not there, dropped mid-request, or the client was closed. */
export class ConnectionError extends LeaseholdError {}
/** The session could not be resumed; everything it held is gone. */
export class SessionExpiredError extends LeaseholdError {}
/** A wait was cancelled. */
export class CancelledError extends LeaseholdError {}
/** A client-side time limit elapsed. */
export class TimeoutError extends LeaseholdError {}
/** The server failed. */
export class ServerFailureError extends LeaseholdError {}

const classes: Record<ErrorCode, new (code: ErrorCode, message: string) => LeaseholdError> = {
  BAD_REQUEST: BadRequestError,
  UNKNOWN_OP: BadRequestError,
  OUT_OF_RANGE: BadRequestError,
  HANDSHAKE_REQUIRED: BadRequestError,
  UNSUPPORTED_VERSION: BadRequestError,
  LEASE_NOT_FOUND: LeaseNotFoundError,
  LEASE_NOT_OWNED: LeaseNotFoundError,
  LIMIT_EXCEEDED: LimitExceededError,
  RATE_LIMITED: LimitExceededError,
  QUOTA_EXCEEDED: LimitExceededError,
  CANCELLED: CancelledError,
  FENCE_FAILED: FenceError,
  REVISION_MISMATCH: ConflictError,
  LIMIT_MISMATCH: ConflictError,
  MODE_MISMATCH: ConflictError,
  COUNTER_OVERFLOW: ConflictError,
  WATCH_OVERFLOW: LimitExceededError,
  COMPACTED: ConflictError,
  UNAUTHENTICATED: PermissionError,
  PERMISSION_DENIED: PermissionError,
  SHUTTING_DOWN: ConnectionError,
  INTERNAL: ServerFailureError,
  NOT_CONNECTED: ConnectionError,
  OUTCOME_UNKNOWN: ConnectionError,
  CLIENT_CLOSED: ConnectionError,
  TIMEOUT: TimeoutError,
  SESSION_EXPIRED: SessionExpiredError,
  LEASE_EXPIRED: LeaseExpiredError,
  LOCK_LOST: LockLostError,
  LOCK_STOLEN: LockLostError,
  RELEASED: ReleasedError,
};

/** The error class for a wire code, so that callers can `instanceof` instead of comparing strings. */
export function errorFromCode(code: ErrorCode, message: string): LeaseholdError {
  return new classes[code](code, message);
}

export { ErrorCode };
