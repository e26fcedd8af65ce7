import type { WebSocketConstructor, WebSocketLike } from "./transport.js";

/** Certificate authorities to trust for `wss://` in Node (PEM), as Node's `tls` takes them. */
export type TrustedCa = string | Uint8Array | (string | Uint8Array)[];

/**
 * A WebSocket constructor that trusts `ca` for `wss://` (a self-signed or private CA). Node's `ws`
 * takes TLS options as its third argument; browsers use their own trust store and ignore it.
 */
export function trustingCa(WebSocketImpl: WebSocketConstructor, ca: TrustedCa): WebSocketConstructor {
  const Impl = WebSocketImpl as unknown as new (url: string, protocols: undefined, options: { ca: TrustedCa }) => WebSocketLike;
  return function WebSocketTrustingCa(url: string): WebSocketLike {
    return new Impl(url, undefined, { ca });
  } as unknown as WebSocketConstructor;
}
