export { connect, LeaseholdClient, type ConnectOptions, type ClientEventName } from "./client.js";
export { Lease, Leases, type GrantOptions, type TimeToLive } from "./leases.js";
export { Lock, Locks, type AcquireOptions, type RequestOptions } from "./locks.js";
export * from "./errors.js";
export type { WebSocketConstructor, WebSocketLike } from "./transport.js";
export { fullJitterDelay } from "./backoff.js";
