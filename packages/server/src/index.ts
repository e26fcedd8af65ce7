export { createServer, type LeaseholdServer } from "./server.js";
export { ADMISSION_DEFAULTS, type ServerOptions } from "./options.js";
export { Coordinator } from "./core/coordinator.js";
export { inspect, type Inspection } from "./core/inspect.js";
export { SqliteStorage, type SyncMode } from "./persistence/sqlite-storage.js";
export { BackgroundSyncSqliteStorage } from "./persistence/background-sync-sqlite-storage.js";
export { MemoryStorage, StorageError, type Storage, type StoredState, type Batch } from "./persistence/storage.js";
