export { createServer, type LeaseholdServer } from "./server.js";
export { ADMISSION_DEFAULTS, type ServerOptions } from "./options.js";
export { Coordinator } from "./coordinator.js";
export { SqliteStorage, type SyncMode } from "./storage/sqlite-storage.js";
export { MemoryStorage, StorageError, type Storage, type StoredState, type Batch } from "./storage/storage.js";
