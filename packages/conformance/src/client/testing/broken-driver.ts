import { decode } from "@msgpack/msgpack";
import type { WebSocketConstructor, WebSocketLike } from "@leasehold/client";
import { WebSocket } from "ws";
import { runNodeDriver } from "../drivers/node-driver.js";

/**
 * The Node driver with one client behaviour broken on purpose, to prove that the kit catches it:
 * `@leasehold/client` gets a WebSocket that tampers with its frames. The behaviour is named by the
 * environment variable LEASEHOLD_CONFORMANCE_BREAK:
 *
 * - `no-pong`: every pong is dropped, as if the client never answered pings (section 5);
 * - `late-pong`: every pong is held back 300 ms, as by a throttled timer instead of the message handler;
 * - `resend-refused`: the request a server refused with close 4000 is sent again right after the
 *   next welcome, as a client does that re-sends it in step 1 of its resume (section 7).
 */
export type Breakage = "no-pong" | "late-pong" | "resend-refused";

const PROTOCOL_ERROR = 4000;
/**
 * Late by the scenario's measure (over 250 ms: a timer never fires early), and short enough that the client
 * itself stays connected. The scenario sends its next ping 200 ms after a pong, so the client hears nothing
 * for this plus 200 ms, and @leasehold/client drops a link silent for 3 intervals + 100 ms (700 ms at the
 * scenario's 200 ms). At 400 ms that left 100 ms for timer slack and stalls, and a CI run once lost the link
 * before the sixth pong ("ping seq 6 got no pong within 3000 ms").
 */
const LATE_PONG_MS = 300;

/** A WebSocket for the client that passes every frame through `breakage`'s tampering. */
export function brokenWebSocket(breakage: Breakage): WebSocketConstructor {
  // Shared by the sockets of one client: the refused frame outlives the connection that carried it.
  let refused: Uint8Array | undefined;
  return class TamperedSocket implements WebSocketLike {
    readonly #inner: WebSocket;
    #lastRequest: Uint8Array | undefined;
    #welcomed = false;

    constructor(url: string) {
      this.#inner = new WebSocket(url);
    }

    get binaryType(): string {
      return this.#inner.binaryType;
    }
    set binaryType(value: string) {
      this.#inner.binaryType = value as WebSocket["binaryType"];
    }
    get readyState(): number {
      return this.#inner.readyState;
    }
    set onopen(handler: ((event: unknown) => void) | null) {
      this.#inner.onopen = handler;
    }
    get onopen(): null {
      return null;
    }
    set onerror(handler: ((event: unknown) => void) | null) {
      this.#inner.onerror = handler;
    }
    get onerror(): null {
      return null;
    }
    set onmessage(handler: ((event: { data: unknown }) => void) | null) {
      this.#inner.onmessage = (event) => {
        handler?.(event);
        if (!this.#welcomed && breakage === "resend-refused" && refused !== undefined) this.#inner.send(refused);
        this.#welcomed = true;
      };
    }
    get onmessage(): null {
      return null;
    }
    set onclose(handler: ((event: { code: number; reason: string }) => void) | null) {
      this.#inner.onclose = (event) => {
        if (event.code === PROTOCOL_ERROR) refused = this.#lastRequest;
        handler?.(event);
      };
    }
    get onclose(): null {
      return null;
    }

    send(data: Uint8Array): void {
      const frame = decode(data) as Record<string, unknown>;
      if (breakage === "no-pong" && frame.op === "pong") return;
      if (breakage === "late-pong" && frame.op === "pong") {
        setTimeout(() => this.#inner.send(data), LATE_PONG_MS);
        return;
      }
      if (typeof frame.id === "number") this.#lastRequest = data;
      this.#inner.send(data);
    }

    close(code?: number, reason?: string): void {
      this.#inner.close(code, reason);
    }
  };
}

const breakage = process.env.LEASEHOLD_CONFORMANCE_BREAK;
if (breakage !== "no-pong" && breakage !== "late-pong" && breakage !== "resend-refused") {
  process.stderr.write(`broken-driver: set LEASEHOLD_CONFORMANCE_BREAK to no-pong, late-pong or resend-refused (got ${String(breakage)})\n`);
  process.exit(2);
}
await runNodeDriver({ WebSocket: brokenWebSocket(breakage) });
