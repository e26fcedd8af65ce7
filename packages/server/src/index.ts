export { createServer, type LeaseholdServer } from "./server.js";
export type { ServerOptions } from "./options.js";
export { Coordinator } from "./coordinator.js";
