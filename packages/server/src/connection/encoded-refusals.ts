import { ErrorCode, encode } from "@leasehold/protocol";

/**
 * The last refusal encoded, kept to be sent again as it is. A flood repeats one frame (bench "under
 * attack": one stale request id, 50,000 times a second), and its answer is the same bytes every
 * time: building the message and encoding it was 14 % of the server's CPU under that flood (CPU
 * profile: `encodePlain` 11 %, the message's text 3 %). One entry, process-wide, keyed by what the
 * bytes say (id, code, text), so that it costs a connection nothing and is right for any of them; two
 * floods at once only miss it, and encode as before. See BENCHMARKS.md, "Under attack (round 6)".
 */
export class EncodedRefusals {
  #id: number | undefined = Number.NaN;
  #code: ErrorCode | undefined;
  #message = "";
  #payload: Uint8Array | undefined;
  /** The text of the last stale-id refusal, and the ids it names. */
  #staleId = Number.NaN;
  #staleLast = Number.NaN;
  #staleText = "";

  /** The `error` message `{ id, code, message }`, encoded (the same bytes as `encode` makes of it). */
  encoded(id: number | undefined, code: ErrorCode, message: string): Uint8Array {
    // Strings compare by pointer first: the texts given are made once (`staleText`, the guard's).
    if (this.#payload !== undefined && id === this.#id && code === this.#code && message === this.#message) return this.#payload;
    this.#id = id;
    this.#code = code;
    this.#message = message;
    this.#payload = encode({ type: "error", id, code, message });
    return this.#payload;
  }

  /** Why request `id` is refused when the session's last request id is `last`: the same string for the same ids. */
  staleText(id: number, last: number): string {
    if (id !== this.#staleId || last !== this.#staleLast) {
      this.#staleId = id;
      this.#staleLast = last;
      this.#staleText = `request id ${id} is not above this session's last request id ${last}; every request needs a larger id than the one before`;
    }
    return this.#staleText;
  }
}
