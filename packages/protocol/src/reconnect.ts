import { CloseCode } from "./codes.js";

/**
 * What a client does after a connection closes with a given code: `resume` redials (after a
 * backoff) and resumes its session; `stop` gives up for good, because redialling could only be
 * refused again or the session was ended on purpose.
 */
export type ReconnectPolicy = "resume" | "stop";

/**
 * Close codes a client observes that no peer ever sends (RFC 6455 section 7.4.1): the socket ended
 * without a close frame (network cut, process killed), or the client dropped the link itself.
 */
export const LocalCloseCode = {
  /** Reported by the WebSocket API when the connection ended without a close frame. */
  ABNORMAL: 1006,
} as const;

/** Every close code the protocol names, and what a client does after it. */
export const RECONNECT_POLICY: { readonly [Code in CloseCode]: ReconnectPolicy } = {
  // The session was closed on purpose (after `bye`): there is nothing to resume.
  [CloseCode.NORMAL]: "stop",
  [CloseCode.SERVICE_RESTART]: "resume",
  [CloseCode.MESSAGE_TOO_BIG]: "resume",
  // A durable server restarted on the same data, or another gateway of a cluster, may still hold the session.
  [CloseCode.INTERNAL_ERROR]: "resume",
  [CloseCode.PROTOCOL_ERROR]: "resume",
  // The same version would be refused again.
  [CloseCode.UNSUPPORTED_VERSION]: "stop",
  [CloseCode.HANDSHAKE_TIMEOUT]: "resume",
  // The same credential would be refused again.
  [CloseCode.UNAUTHENTICATED]: "stop",
  // Redialling starts a new session (the welcome says `resumed: false`), which is what the client wants.
  [CloseCode.SESSION_EXPIRED]: "resume",
  [CloseCode.TOO_MANY_SESSIONS]: "resume",
  [CloseCode.SLOW_CONSUMER]: "resume",
  [CloseCode.SESSION_TAKEN_OVER]: "resume",
  [CloseCode.RATE_LIMITED]: "resume",
};

/** What to do after a close with `code`; a code the protocol does not name (1006, 1001, a proxy's own) is a dropped link: resume. */
export function reconnectPolicy(code: number): ReconnectPolicy {
  return isNamedCloseCode(code) ? RECONNECT_POLICY[code] : "resume";
}

function isNamedCloseCode(code: number): code is CloseCode {
  return Object.hasOwn(RECONNECT_POLICY, code);
}
