export { PROTOCOL_VERSION, SUPPORTED_VERSIONS } from "./version.js";
export { ErrorCode, CloseCode } from "./codes.js";
export { BOUNDS, DEFAULT_LIMITS, HEARTBEAT_DEFAULTS, clientSafetyMarginMs, type Limits } from "./limits.js";
export * from "./values.js";
export * from "./client-messages.js";
export * from "./server-messages.js";
export { encode, decode, decodeClientMessage, decodeServerMessage, useEnglishErrorMessages, type Decoded } from "./codec.js";
export { systemClock, FakeClock, type Clock, type Timer } from "./clock.js";
export { reconnectPolicy, RECONNECT_POLICY, LocalCloseCode, type ReconnectPolicy } from "./reconnect.js";
