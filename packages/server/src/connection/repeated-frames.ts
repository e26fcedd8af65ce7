import { decodeClientMessage, type ClientMessage, type Decoded } from "@leasehold/protocol";

/** Frames up to this size are remembered: a flood's are small (a stale request is about 30 bytes), and copying more would cost every larger request. */
export const REMEMBERED_FRAME_BYTES = 64;

/**
 * Decodes a session's frame, or gives the decoding of its previous frame again when the bytes are the
 * same. Decoding is a function of the bytes alone, and a frame repeated by the same session is a
 * flood's (bench "under attack": one stale request, 50,000 times a second, where decoding was 12 % of
 * the server's CPU): a request repeated carries the id it had, which the first one used, so it is
 * refused as stale without its decoding being looked at again, and a message that did not decode fails
 * the same way again. One entry, process-wide, holding a copy of the bytes (never the read buffer
 * they came in, which may be 64 KiB): it costs a connection nothing, and a frame of another session
 * or a larger one only replaces or skips it. See BENCHMARKS.md, "Under attack (round 6)".
 */
export class RepeatedFrames {
  #owner: object | undefined;
  readonly #bytes = Buffer.alloc(REMEMBERED_FRAME_BYTES);
  #length = 0;
  #decoded: Decoded<ClientMessage> | undefined;

  /** `decodeClientMessage(frame)`, for a frame `owner` (the session) sent. */
  decode(owner: object, frame: Buffer): Decoded<ClientMessage> {
    const length = frame.length;
    if (owner === this.#owner && length === this.#length && this.#decoded !== undefined && frame.compare(this.#bytes, 0, length) === 0) return this.#decoded;
    const decoded = decodeClientMessage(frame);
    if (length <= REMEMBERED_FRAME_BYTES) {
      this.#owner = owner;
      this.#length = length;
      this.#bytes.set(frame);
      this.#decoded = decoded;
    } else {
      this.#owner = undefined;
      this.#decoded = undefined;
    }
    return decoded;
  }
}
