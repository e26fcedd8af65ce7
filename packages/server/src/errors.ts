import type { ErrorCode } from "@leasehold/protocol";

/** A request that the server refuses. Its code and message go back to the client in an `error` reply. */
export class ServerError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "ServerError";
    this.code = code;
  }
}
